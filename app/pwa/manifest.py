"""The web app manifest of each host: the WISP's name, colour and icons make the app its own."""

from __future__ import annotations

from app.core.i18n import _
from app.pwa.icons import DEFAULT_COLOUR, initials, rgb
from tenants.hosts import BaseHost
from tenants.registry import TenantRef

PLATFORM_NAME = "Wisp Cloud"
ICON_SIZES = (192, 512)


def theme_colour(host: TenantRef | BaseHost) -> str:
    """The brand colour; every WISP has the default until branding lets them choose one."""
    colour = getattr(host, "theme_colour", None) or DEFAULT_COLOUR
    r, g, b = rgb(str(colour))  # falls back to the default for anything malformed
    return f"#{r:02x}{g:02x}{b:02x}"


def app_name(host: TenantRef | BaseHost) -> str:
    return host.name if isinstance(host, TenantRef) else PLATFORM_NAME


def short_name(name: str) -> str:
    """At most 12 characters, as launchers cut longer ones: the name, its first word, or a cut."""
    name = " ".join(name.split())
    if len(name) <= 12:
        return name
    first = name.split(" ", 1)[0]
    return first if len(first) <= 12 else name[:12].rstrip()


def app_initials(host: TenantRef | BaseHost) -> str:
    return initials(app_name(host))


def manifest(host: TenantRef | BaseHost, language: str) -> dict[str, object]:
    name = app_name(host)
    colour = theme_colour(host)
    icons: list[dict[str, str]] = [
        {"src": f"/icons/icon-{size}.png", "sizes": f"{size}x{size}", "type": "image/png"}
        for size in ICON_SIZES
    ]
    icons.append(
        {
            "src": "/icons/maskable-512.png",
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        }
    )
    return {
        "id": "/",
        "name": name,
        "short_name": short_name(name),
        "description": _("Subscribers, work orders and billing of {name}.").format(name=name)
        if isinstance(host, TenantRef)
        else _("The cloud for wireless internet service providers."),
        "lang": language,
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "orientation": "any",
        "theme_color": colour,
        "background_color": "#ffffff",
        "icons": icons,
    }
