# JupyterHub configuration: conversation sharing (jupyter-convshare) for every hub user.
#
# Copy the parts below into your jupyterhub_config.py (JupyterHub 5). What they do:
#
# * The "convshare" service: the hub starts `jupyter convshare hub-service`, reachable at
#   /services/convshare/. It owns the share store (one folder, owned by the hub's OS user),
#   serves share links to anyone without a hub login (/services/convshare/convshare/s/<link>),
#   and the REST API to hub users (browser login through the hub's OAuth, or a hub API token).
#   Links keep working while their owner's server is stopped or culled.
# * Scopes: what each user may do in the service.
#     access:services!service=convshare   use the service at all (list, view what is shared with you)
#     custom:convshare:share              create shares, grants and reshares
#     custom:convshare:public             turn on links that anyone can open without logging in
#     custom:convshare:collaborate        add messages to conversations shared for collaboration
#     custom:convshare:admin              manage and revoke every share (hub admins have it anyway)
#   Groups are the hub's groups: a share granted to a group reaches its members.
# * Single-user servers and notebooks call the service with the user's server token: it
#   needs access to the service, and the scopes the user should be able to use from there.
# * Changes on the hub (group membership, roles, admin) reach the service within
#   --cache-max-age seconds (60 here; the service caches what the hub says for that long).
#
# The service's OS user is the hub's; give it its own folder (--store-dir) and back it up
# with `jupyter convshare backup`.

import sys

c = get_config()  # noqa: F821 (defined by JupyterHub when it loads this file)

CONVSHARE_STORE = "/srv/jupyterhub/convshare"
"""Where the service keeps its store (SQLite, attachment blobs, link secret): mode 0700."""

c.JupyterHub.services = [
    {
        "name": "convshare",
        "url": "http://127.0.0.1:10101",  # where the service listens (the proxy routes to it)
        "command": [
            sys.executable,
            "-m",
            "jupyter_convshare.cli",
            "hub-service",
            "--store-dir",
            CONVSHARE_STORE,
            "--cache-max-age",
            "60",
        ],
        # tokens the service receives from the hub's OAuth may carry these scopes (each only
        # when the user has it); the service reads them to decide what the user may do
        "oauth_client_allowed_scopes": [
            "custom:convshare:share",
            "custom:convshare:public",
            "custom:convshare:collaborate",
            "custom:convshare:admin",
        ],
        # a service the admin installed: no "authorize this application?" page
        "oauth_no_confirm": True,
        "display": False,
    },
]

c.JupyterHub.custom_scopes = {
    "custom:convshare:share": {
        "description": "Create conversation shares, grants and reshares in the convshare service.",
    },
    "custom:convshare:public": {
        "description": "Turn on share links that anyone can open without logging in.",
    },
    "custom:convshare:collaborate": {
        "description": "Add messages to conversations shared with you for collaboration.",
    },
    "custom:convshare:admin": {
        "description": "Manage, list and revoke every share of the convshare service.",
    },
}

c.JupyterHub.load_roles = [
    # every user: JupyterHub's own user role ("self"), plus using the service, sharing
    # (with grants), public links and collaborating; remove a scope here to withhold it
    # from everyone, and give it back to some groups with a role like "convshare-teachers"
    {
        "name": "user",
        "scopes": [
            "self",
            "access:services!service=convshare",
            "custom:convshare:share",
            "custom:convshare:public",
            "custom:convshare:collaborate",
        ],
    },
    # example: members of the hub group "teachers" administer every share
    # (hub admins are convshare admins without it)
    {
        "name": "convshare-teachers",
        "scopes": ["custom:convshare:admin"],
        "groups": ["teachers"],
    },
    # the service reads who is in which group and who is a hub admin
    {
        "name": "convshare-service",
        "scopes": ["read:users:name", "read:users:groups", "list:groups", "read:groups"],
        "services": ["convshare"],
    },
]

# Where single-user servers and their notebooks reach the service: the hub's public address
# (c.JupyterHub.public_url, or the proxy's default http://127.0.0.1:8000/) + services/convshare/.
# ConvShareClient() and share(...) in a notebook then use the service with the server's token.
HUB_PUBLIC_URL = "http://127.0.0.1:8000/"
c.Spawner.environment = {"CONVSHARE_SERVICE_URL": HUB_PUBLIC_URL + "services/convshare/"}

# The token of each single-user server (notebooks, the server extension, the JupyterLab
# share dialog) calls the service: JupyterHub's default scopes plus the service's.
c.Spawner.server_token_scopes = [
    "users:activity!user",
    "access:servers!server",
    "access:services!service=convshare",
    "custom:convshare:share",
    "custom:convshare:public",
    "custom:convshare:collaborate",
]

# Optional: links printed with the hub's public address (also used by the service)
# c.JupyterHub.public_url = "https://hub.example.org/"
