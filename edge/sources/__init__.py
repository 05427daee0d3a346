"""What an edge node observes: one module per kind of source (badge readers today).

Each source has a small interface, real backends imported lazily, and a fake shipped in the
package so the agent, the demo and the tests run without hardware.
"""
