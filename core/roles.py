"""The three roles and what each may do.  Groups are created and kept in step by data
migrations calling :func:`sync_role_groups`; superusers may do everything."""

from __future__ import annotations

VIEWER = "viewer"
OPERATOR = "operator"
ADMIN = "admin"
APPROVER = "approver"

_VIEW = [
    "services.view_service",
    "services.view_providerconnection",
    "services.view_feeprofile",
    "services.view_feerule",
    "services.view_auditentry",
    "balances.view_balance",
    "balances.view_balancechange",
    "balances.view_syncrun",
    "payouts.view_payout",
    "payouts.view_payoutevent",
    "alerts.view_alert",
    "alerts.view_alertrule",
    "approvals.view_approvalrequest",
]
_OPERATE = [
    "balances.add_balance",
    "balances.change_balance",
    "balances.delete_balance",
    "balances.sync_balances",
    "payouts.add_payout",
    "payouts.change_payout",
    "alerts.acknowledge_alert",
]
_ADMINISTER = [
    "services.add_service",
    "services.change_service",
    "services.delete_service",
    "services.add_providerconnection",
    "services.change_providerconnection",
    "services.delete_providerconnection",
    "services.add_feeprofile",
    "services.change_feeprofile",
    "services.delete_feeprofile",
    "services.add_feerule",
    "services.change_feerule",
    "services.delete_feerule",
    "alerts.add_alertrule",
    "alerts.change_alertrule",
    "alerts.delete_alertrule",
    # Who changed what across the system (services/audit): admins.
    "services.view_audit_log",
    # Webhook URLs and delivery logs are sensitive: admins only, viewing included.
    "webhooks.view_webhook",
    "webhooks.add_webhook",
    "webhooks.change_webhook",
    "webhooks.delete_webhook",
    "approvals.view_approvalpolicy",
    "approvals.add_approvalpolicy",
    "approvals.change_approvalpolicy",
]
# Four eyes: approve or reject what someone else asked for (never one's own request).
_APPROVE = ["approvals.approve"]

ROLES: dict[str, list[str]] = {
    VIEWER: _VIEW,
    OPERATOR: _VIEW + _OPERATE,
    ADMIN: _VIEW + _OPERATE + _ADMINISTER + _APPROVE,
    APPROVER: _VIEW + _APPROVE,
}


def sync_role_groups(apps, schema_editor, *, using: str | None = None) -> None:
    """Create the groups and give each exactly its role's permissions (those that exist), in
    the database being migrated (``using``, else the schema editor's, else the default)."""
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions
    from django.db import DEFAULT_DB_ALIAS

    db = using or (schema_editor.connection.alias if schema_editor else DEFAULT_DB_ALIAS)
    for app_config in apps.get_app_configs():
        if apps is global_apps:
            create_permissions(app_config, verbosity=0, using=db)
        else:
            # A migration's state registry has no models modules; permissions are only
            # created for app configs that look like they have one.
            app_config.models_module = True
            create_permissions(app_config, apps=apps, verbosity=0, using=db)
            app_config.models_module = None

    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, perms in ROLES.items():
        group, _ = group_model.objects.using(db).get_or_create(name=role)
        found = []
        for perm in perms:
            app_label, codename = perm.split(".", 1)
            found.extend(
                permission_model.objects.using(db).filter(
                    content_type__app_label=app_label, codename=codename
                )
            )
        group.permissions.set(found)
