"""Exports for filing upward (上报): diagrams, registers, roster and the filing package.

- :mod:`gisgrid.export.diagram` — ``export_diagram``: PNG (300 dpi) / vector PDF grid diagrams,
  atlas (overview + one page per street/town), drawn in the Gauss–Krüger zone of the data.
- :mod:`gisgrid.export.registers` — ``export_registers`` (一格一册 XLSX) and ``export_roster`` (四定).
- :mod:`gisgrid.export.statistics` — ``export_statistics``: the 网格统计表 (XLSX ready to print, or CSV).
- :mod:`gisgrid.export.package` — ``export_package``: everything above plus grid data, a cover note and
  a manifest.
- :mod:`gisgrid.export.printing` — paper, margins and the scale a fitted sheet prints at.
- :mod:`gisgrid.export.data` — the SQL these read.

Submodules are imported on use: matplotlib takes a second to import and the web app and
CLI should not pay for it until a diagram is asked for.
"""
