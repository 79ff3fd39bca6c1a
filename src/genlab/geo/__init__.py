"""Geoscience helpers for facies models: a steady-state flow proxy and observation operators (genlab.geo.flow)."""

from genlab.geo.flow import WellPattern, facies_at_wells, flow_proxy, permeability, solve_pressure, solve_wells

__all__ = ["WellPattern", "facies_at_wells", "flow_proxy", "permeability", "solve_pressure", "solve_wells"]
