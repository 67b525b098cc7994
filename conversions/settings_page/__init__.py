"""``/settings/system``: the Conversion Health page for people (sign-in, checklist, health,
chart, attribution, limits and rotation), with its forms, templates and static files. May
import every lower layer."""
