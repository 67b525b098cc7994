"""What operators act with: dead letters (list, replay, discard), the error taxonomy view,
test events, security status, and the export/import commands. May import every lower layer
(``core`` to ``monitoring``)."""
