"""Renderers behind one protocol, the frozen job they render, and the runner that drives them.

Never imports Qt; imports `model` (torch) only inside functions, so the puppet path stays light.
"""
