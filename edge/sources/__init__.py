"""What an edge node observes: one module per kind of source.

Badge readers (:mod:`.badge`, hardware in :mod:`.readers`), BLE presence (:mod:`.ble`, with
:mod:`.ble_parse`, :mod:`.irk`, :mod:`.ble_window`), GPIO sensors (:mod:`.gpio`) and environment
sensors (:mod:`.environment`, :mod:`.scd4x`, :mod:`.bme280`). Each has a small interface, real
backends imported lazily, and a fake shipped in the package (:class:`.badge.FakeBadgeReader`,
:mod:`.ble_fake`, gpiozero's ``MockFactory``, :class:`.environment.FakeEnvironmentSensor`) so the
agent, the demo and the tests run without hardware.
"""
