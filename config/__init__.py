"""Configuration, floor 1 (just above the error tree): the environment and ``.env`` read once into
a frozen :class:`~config.settings.Settings`, and the values it is made of: the masked key type
(``secret``), trusted proxies and origins (``network``), the counter store (``storage``). Also here:
which key a request uses (``keys``) and the log filter that masks every live key (``redact``).

Nothing is re-exported here, so importing a value module (``config.secret``) loads only that.
"""
