from django.contrib.auth import views as auth_views
from django.urls import path

# The URL names django-allauth gives its pages.
urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="accounts/login.html"), name="account_login"),
    path("logout/", auth_views.LogoutView.as_view(), name="account_logout"),
]
