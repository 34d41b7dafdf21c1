"""Deputy's own consent step: the control that keeps it from being a confused deputy."""
