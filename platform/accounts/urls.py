from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from accounts import views
from accounts.forms import (
    ThrottledPasswordResetForm,
    ThrottledSignInForm,
    UnlockingSetPasswordForm,
)

app_name = "accounts"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(
        template_name="accounts/login.html", authentication_form=ThrottledSignInForm,
        redirect_authenticated_user=True), name="login"),
    # POST only (Django 5): the user menu signs out with a form, never with a link.
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", views.sign_up_view, name="signup"),
    # Under /accounts/: reachable while the workspace is suspended (accounts.middleware).
    path("language/", views.language_set_view, name="set_language"),
    path("preferences/", views.preferences_view, name="preferences"),
    path("verify/resend/", views.email_verification_resend_view, name="email_verification_resend"),
    path("verify/<uidb64>/<token>/", views.email_verify_view, name="email_verify"),
    path("invitations/<str:token>/", views.invitation_accept_view, name="invitation_accept"),
    path("password-reset/", auth_views.PasswordResetView.as_view(
        template_name="accounts/password_reset.html", form_class=ThrottledPasswordResetForm,
        # Our own email templates: the admin's defaults reverse un-namespaced URL names.
        email_template_name="accounts/email/password_reset.txt",
        subject_template_name="accounts/email/password_reset_subject.txt",
        success_url=reverse_lazy("accounts:password_reset_done")), name="password_reset"),
    path("password-reset/done/", auth_views.PasswordResetDoneView.as_view(
        template_name="accounts/password_reset_done.html"), name="password_reset_done"),
    path("password-reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(
        template_name="accounts/password_reset_confirm.html", form_class=UnlockingSetPasswordForm,
        success_url=reverse_lazy("accounts:password_reset_complete")),
        name="password_reset_confirm"),
    path("password-reset/complete/", auth_views.PasswordResetCompleteView.as_view(
        template_name="accounts/password_reset_complete.html"), name="password_reset_complete"),
]
