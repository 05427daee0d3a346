"""The Vivant edge agent: what runs on a Raspberry Pi at a site.

It reads badge readers, a BLE scanner, GPIO sensors (motion, doors, people counting) and
environment sensors, turns each observation into a wire-contract message, keeps it in a durable
outbox and sends it to the broker when it can; it answers the hub's feedback commands with LEDs
and a buzzer. Start from :mod:`edge.main` (``vivant edge``) or embed :class:`edge.agent.EdgeAgent`.
Edge code never imports the hub: a node installs only ``vivant[edge]``.
"""
