"""`datalab users add|list`: accounts of the one-machine datalab's development IdP."""

from __future__ import annotations

import os


def register(commands) -> None:
    p = commands.add(
        "users", "add", help="Add an account to the development IdP (works while the datalab runs)."
    )
    p.add_argument(
        "name",
        help="login name: lowercase letters, digits or '-' (3-29 with the default account names dl-NAME)",
    )
    p.add_argument(
        "--groups",
        default="datalab-users",
        help="comma-separated groups (default: datalab-users; admins: datalab-users,datalab-admins)",
    )
    p.add_argument("--email", default=None, help="e-mail address (default: NAME@datalab.localhost)")
    p.set_defaults(func=_add)
    p = commands.add("users", "list", help="List the development IdP's accounts and their groups.")
    p.set_defaults(func=_list)


def _add(args) -> int:
    from hub.stack.layout import Layout, state_dir
    from hub.stack.status import ensure_bucket_if_running
    from hub.stack.users import UserError, account_template, add_user

    layout = Layout(state_dir())
    groups = [g.strip() for g in args.groups.split(",") if g.strip()]
    try:
        password = add_user(layout, args.name, groups, args.email, account_template(layout, dict(os.environ)))
    except UserError as e:
        print(f"datalab users add: {e}")
        return 1
    print(f"Added {args.name} (groups: {', '.join(groups)}), password: {password}")
    if not {"datalab-users", "datalab-admins"} & set(groups):
        print(
            "Note: without the group datalab-users (or datalab-admins) the hub refuses this account's login."
        )
    print(f"(kept in {layout.passwords_file}, mode 0600)")
    note = ensure_bucket_if_running(layout, args.name)
    if note:
        print(note)
    return 0


def _list(args) -> int:
    from hub.stack.layout import Layout, state_dir
    from hub.stack.users import NoUsers, UserError, read_users

    try:
        users = read_users(Layout(state_dir()))
    except NoUsers as e:
        print(f"datalab users list: {e}")
        return 0
    except UserError as e:
        print(f"datalab users list: {e}")
        return 1
    if not users:
        print("no accounts yet (they are created by the first `datalab up`)")
    for name, info in sorted(users.items()):
        print(f"{name:<20} {', '.join(info.get('groups') or [])}")
    return 0
