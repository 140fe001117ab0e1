"""The reconciler: desired state, actual state, diff, plan, render, run."""
