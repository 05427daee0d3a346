"""``vivant demo``: the whole system on one machine, on embedded defaults.

An in-process MQTT broker (amqtt) unless one is given, the hub on SQLite, and one simulated edge
agent per site tapping the badges of a few dozen demo members. Nothing here is used in
production; it imports both edge and hub, which only the CLI layer may do.
"""
