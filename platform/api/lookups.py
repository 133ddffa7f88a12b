"""Path ids: every numeric lookup matches ``ID_PATTERN`` and ids in bodies and queries stay at
most ``MAX_ID`` (PostgreSQL's bigint), so an out-of-range id is a 404 or a 400 naming the field,
never a database error."""

ID_PATTERN = r"[0-9]+"
MAX_ID = 2**63 - 1
