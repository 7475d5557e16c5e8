"""Autoscalers of real systems, one module each; ``simulator.autoscale`` imports them all."""
