"""The pure core of inplay: the rules of betting, money and player protection.

Everything here is plain Python: frozen dataclasses, ``Decimal`` money, ``str`` enums, an
injected clock. It imports nothing else of the project and no I/O library (no Ray, Redis,
FastAPI or media stack), so every rule can be read and tested on its own. The layers above
give it a mailbox and durability (``actors``), persistence (``storage``) and an HTTP edge
(``serve_apps``).
"""
