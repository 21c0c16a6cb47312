from django import forms
from django.contrib.auth import get_user_model


class TaskForm(forms.Form):
    title = forms.CharField(max_length=200)
    assignee = forms.ModelChoiceField(
        queryset=get_user_model()._default_manager.filter(is_active=True).order_by(get_user_model().USERNAME_FIELD)
    )
