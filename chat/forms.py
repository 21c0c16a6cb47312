from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from chat.models import Room


class RoomForm(forms.ModelForm):
    members = forms.ModelMultipleChoiceField(
        queryset=get_user_model()._default_manager.none(),
        required=False,
        help_text="For a private room: who else may use it. You are always a member.",
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Room
        fields = ["name", "slug", "is_private"]
        help_texts = {"slug": "The room's address: lowercase letters, digits and hyphens."}

    def __init__(self, *args: Any, user: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        User = get_user_model()
        self.fields["members"].queryset = (
            User._default_manager.filter(is_active=True).exclude(pk=user.pk).order_by(User.USERNAME_FIELD)
        )
