"""Hardware badge readers, one module per kind; each is imported only when a reader of its kind
is opened (see :data:`edge.sources.badge.HARDWARE_BACKENDS`), so a node without, say, pyscard
never imports it.

The parsing half of each reader (key codes, serial frames, APDU answers) is plain Python with no
library import, tested on its own; the device half is a thin layer over the library.
"""
