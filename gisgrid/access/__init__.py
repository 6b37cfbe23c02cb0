"""People and access: accounts, sessions, roles and the one scope gate (issue: 四定 scopes).

Dependencies point down: web/cli → access → db.  The web layer asks :func:`user_scope`
for every read and checks :func:`gisgrid.access.roles.may` before every write.
"""

from gisgrid.access.accounts import (
    LoginRefused, LoginThrottled, NewAccount, add_user, assign_grids, change_password, disable_user,
    enable_user, list_users, log_in, reset_password, set_role,
)
from gisgrid.access.audit import record_audit
from gisgrid.access.roles import CAPABILITIES, GRANTS, ROLES, check_role, may
from gisgrid.access.scope import Scope, user_scope, visible_employer_ids
from gisgrid.access.sessions import SessionUser, end_session, end_user_sessions, resolve_session, start_session

__all__ = [
    "CAPABILITIES", "GRANTS", "ROLES", "LoginRefused", "LoginThrottled", "NewAccount", "Scope", "SessionUser",
    "add_user", "assign_grids", "change_password", "check_role", "disable_user", "enable_user",
    "end_session", "end_user_sessions", "list_users", "log_in", "may", "record_audit", "reset_password",
    "resolve_session", "set_role", "start_session", "user_scope", "visible_employer_ids",
]
