"""`gisgrid users …`: accounts, the server operator's tool (not scoped, like the other commands).

Writes are dry runs unless given ``--commit``.  A generated password is printed once (it is
never stored, only its argon2id hash) and must be changed at first login.
"""

from __future__ import annotations

import sys

import click

from gisgrid.cli.base import Context, cli, json_option


def _actor() -> str:
    from gisgrid.employers.queries import current_actor

    return f"cli:{current_actor()}"


def _stdin_password(flag: bool) -> str | None:
    if not flag:
        return None
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        from gisgrid.errors import InputError

        raise InputError("--password-stdin was given but standard input held no password")
    return line


def _outcome(commit: bool) -> str:
    return "" if commit else "（试运行：未写入，加 --commit 执行）"


@cli.group()
def users() -> None:
    """Accounts: add, list, disable, enable, reset passwords, change roles."""


@users.command("add")
@click.argument("username")
@click.option("--role", required=True, help="admin | planner | leader | inspector")
@click.option("--name", "display_name", help="Display name (姓名).")
@click.option("--grid", "grids", multiple=True, help="Inspector: a grid code they answer for (repeatable).")
@click.option("--staff", "staff_id", type=int, help="Inspector: the 四定 staff member's id.")
@click.option("--staff-role", default="full_time", show_default=True,
              help="Role of a staff member created for --grid: full_time | part_time | coordinator.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (else one is generated).")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def users_add(ctx: Context, username, role, display_name, grids, staff_id, staff_role, password_stdin, commit):
    """Create an account (an inspector's scope comes from --grid or --staff)."""
    from gisgrid.access import add_user
    from gisgrid.db.engine import session_scope

    password = _stdin_password(password_stdin)
    with session_scope(ctx.engine, commit=commit) as session:
        account = add_user(session, username, role, actor=_actor(), display_name=display_name, password=password,
                           staff_id=staff_id, grid_codes=tuple(grids), staff_role=staff_role)
    data = {"committed": commit, "id": account.id if commit else None, "username": account.username,
            "role": account.role, "staff_id": account.staff_id if commit else None,
            "password": account.password if commit else None, "grids": list(grids)}
    text = f"账号 {account.username}（{account.role}）{'已创建' if commit else '可以创建'}{_outcome(commit)}"
    if commit and account.password:
        text += f"\n初始密码（只显示这一次，首次登录须修改）：{account.password}"
    return data, text


@users.command("list")
@json_option
@click.pass_obj
def users_list(ctx: Context):
    """List the accounts with role, staff member, state and sessions."""
    from gisgrid.access import list_users
    from gisgrid.db.engine import session_scope

    with session_scope(ctx.engine, commit=False) as session:
        rows = list_users(session)
    lines = [f"{r['username']:<20} {r['role']:<10} {'启用' if r['active'] else '停用'}  "
             f"{r['display_name'] or ''} {('四定人员 ' + str(r['staff_name'])) if r['staff_id'] else ''}"
             f"  在线会话 {r['sessions']}" for r in rows]
    return rows, "\n".join(lines) or "（没有账号）"


def _simple(name: str, help_text: str, action):
    @users.command(name, help=help_text)
    @click.argument("username")
    @click.option("--commit", is_flag=True)
    @json_option
    @click.pass_obj
    def command(ctx: Context, username: str, commit: bool):
        from gisgrid.db.engine import session_scope

        with session_scope(ctx.engine, commit=commit) as session:
            detail = action(session, username)
        return {"committed": commit, "username": username, **detail}, \
            f"{username}：{detail['text']}{_outcome(commit)}"

    return command


def _disable(session, username):
    from gisgrid.access import disable_user

    ended = disable_user(session, username, actor=_actor())
    return {"sessions_ended": ended, "text": f"停用，结束在线会话 {ended} 个"}


def _enable(session, username):
    from gisgrid.access import enable_user

    enable_user(session, username, actor=_actor())
    return {"text": "启用"}


_simple("disable", "Disable an account and end its sessions at once.", _disable)
_simple("enable", "Enable a disabled account.", _enable)


@users.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input (else one is generated).")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def users_reset_password(ctx: Context, username: str, password_stdin: bool, commit: bool):
    """Set a new password (generated ones must be changed at next login); ends the user's sessions."""
    from gisgrid.access import reset_password
    from gisgrid.db.engine import session_scope

    password = _stdin_password(password_stdin)
    with session_scope(ctx.engine, commit=commit) as session:
        generated = reset_password(session, username, actor=_actor(), password=password)
    text = f"{username}：密码{'已重置' if commit else '可以重置'}{_outcome(commit)}"
    if commit and generated:
        text += f"\n新密码（只显示这一次，登录后须修改）：{generated}"
    return {"committed": commit, "username": username, "password": generated if commit else None}, text


@users.command("set-role")
@click.argument("username")
@click.argument("role")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def users_set_role(ctx: Context, username: str, role: str, commit: bool):
    """Change an account's role; ends the user's sessions so the new role applies at once."""
    from gisgrid.access import set_role
    from gisgrid.db.engine import session_scope

    with session_scope(ctx.engine, commit=commit) as session:
        ended = set_role(session, username, role, actor=_actor())
    return ({"committed": commit, "username": username, "role": role, "sessions_ended": ended},
            f"{username}：角色改为 {role}，结束在线会话 {ended} 个{_outcome(commit)}")
