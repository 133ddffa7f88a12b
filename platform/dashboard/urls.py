from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    # The tenant middleware (accounts.middleware) lets this path through for a suspended
    # tenant (keep it in step), so that a member can still switch away from a suspended
    # workspace.
    path("tenants/switch", views.tenant_switch_view, name="tenant_switch"),
    path("settings/", views.settings_workspace, name="settings_workspace"),
    path("settings/members/", views.settings_members, name="settings_members"),
    path("settings/members/<int:pk>/role/", views.member_change_role, name="member_change_role"),
    path("settings/members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path("settings/invitations/<int:pk>/revoke/", views.invitation_revoke_view,
         name="invitation_revoke"),
    path("settings/api-keys/", views.settings_api_keys, name="settings_api_keys"),
    path("settings/api-keys/<int:pk>/revoke/", views.api_key_revoke_view,
         name="api_key_revoke"),
]
