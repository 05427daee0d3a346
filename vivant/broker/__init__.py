"""Mosquitto files for a Vivant broker: accounts, ACL, password file and site-to-central bridge.

The hub's configuration is the register of sites and nodes; from it ``vivant mqtt gen-acl`` and
``gen-passwd`` write what Mosquitto needs so that each node may publish only its own topics and
read only its own ``config`` and ``command``, and ``gen-bridge`` writes the bridge that carries a
site broker's topics to a central one. This package knows Mosquitto's file formats and nothing
about the hub: the hub turns its configuration into :class:`~vivant.broker.accounts.Account`
values (``hub.broker_accounts``).
"""
