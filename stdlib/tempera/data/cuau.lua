-- tempera.data.cuau: the Cu-Au cluster expansion as the
-- text of a tempera-ce file (format: man tempera-models(5)).  Embedded in
-- the binary; tp.model.cluster_expansion{ ce = "cuau" } loads it, and
-- `tempera -e 'io.write(require "tempera.data.cuau")' > my.ce` writes a copy
-- to edit.
return [[
tempera-ce 1
# Cu-Au binary alloy on FCC.  Token 0 = Cu (sigma = -1),
# token 1 = Au (sigma = +1).  Coordinates in units of a/2 (a = 3.8 Angstrom).
# ECIs in eV/atom.  MULT = figures containing a given site (checked).
name cuau
lattice fcc
unit a/2 1.9 Angstrom
species Cu Au
#       name   ECI                      MULT  points (x y z)...
cluster c0     0.006100279787831659     1
cluster c1    -0.0031900811734577247    1     0 0 0
cluster c2_d0  0.017232296461428938     12    0 0 0  1 1 0
cluster c2_d1 -0.016839573363374966     6     0 0 0  2 0 0
cluster c2_d2 -0.005192441582986464     24    0 0 0  2 1 1
cluster c2_d3 -0.00042240992321274096   12    0 0 0  2 2 0
cluster c3_d0 -0.00770642159861723      24    0 0 0  1 1 0  1 0 1
cluster c3_d1  0.008232628244981447     36    0 0 0  1 1 0  2 0 0
cluster c4_d0 -0.0003380467088204115    8     0 0 0  1 1 0  1 0 1  0 1 1
cluster c4_d1 -0.015681090820390833     12    0 0 0  1 1 0  2 0 0  1 -1 0
cluster c4_d2  0.015097011177476766     48    0 0 0  2 0 0  1 1 0  1 0 1
]]
