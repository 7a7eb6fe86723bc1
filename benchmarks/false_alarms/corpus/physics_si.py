"""Classical molecular energies in SI units: joules, metres, coulombs.

Energies come out around 1e-21..1e-19 J and coordinates are around 1e-10 m, so every derivative
is far from 1 in magnitude: forces around 1e-11 N, force constants around 1e2..1e3 N/m.

Sources (formulas and parameters):
- Lennard-Jones argon, epsilon/k_B = 119.8 K, sigma = 3.405 Angstrom: Rahman, Phys. Rev. 136, A405
  (1964), the parameters in Allen & Tildesley, "Computer Simulation of Liquids", and in
  jax_md.energy.lennard_jones (https://github.com/jax-md/jax-md/blob/main/jax_md/energy.py).
- Water: the TIP3P charges (O -0.834 e, H +0.417 e; Jorgensen et al., J. Chem. Phys. 79, 926
  (1983)) and CHARMM's flexible-water bond and angle terms (par_all36: HT-OT K_b = 450
  kcal/mol/A^2, b0 = 0.9572 A; HT-OT-HT K_theta = 55 kcal/mol/rad^2, theta0 = 104.52 deg), in
  CHARMM's convention E = K (x - x0)^2.
- H2 Morse potential: D_e = 4.7446 eV, a = 1.9426 1/A, r_e = 0.7416 A
  (https://en.wikipedia.org/wiki/Morse_potential, NIST diatomic constants).
- Constants: CODATA 2018 (k_B, e, N_A exact; Coulomb constant 8.9875517923e9 N m^2/C^2).
"""

import numpy as np

K_B = 1.380649e-23  # J/K
E_CHARGE = 1.602176634e-19  # C
N_A = 6.02214076e23  # 1/mol
COULOMB_K = 8.9875517923e9  # N m^2 / C^2
KCAL_PER_MOL = 4184.0 / N_A  # J
ANGSTROM = 1e-10  # m

EPSILON_AR = 119.8 * K_B  # 1.654e-21 J
SIGMA_AR = 3.405 * ANGSTROM

K_BOND_OH = 450.0 * KCAL_PER_MOL / ANGSTROM**2  # J/m^2
B0_OH = 0.9572 * ANGSTROM
K_ANGLE_HOH = 55.0 * KCAL_PER_MOL  # J/rad^2
THETA0_HOH = np.deg2rad(104.52)
TIP3P_CHARGES = np.array([-0.834, 0.417, 0.417]) * E_CHARGE

MORSE_DE_H2 = 4.7446 * E_CHARGE  # J
MORSE_A_H2 = 1.9426 / ANGSTROM  # 1/m
MORSE_RE_H2 = 0.7416 * ANGSTROM


def lj_argon_pair(r):
    """Lennard-Jones pair energy of argon at distances r (m), in J; one value per distance."""
    sr6 = (SIGMA_AR / r) ** 6
    return 4 * EPSILON_AR * (sr6**2 - sr6)


def lj_argon_cluster(positions):
    """Total Lennard-Jones energy (J) of an argon cluster, positions (n, 3) in m; a pair loop."""
    n = positions.shape[0]
    energy = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            r = np.sqrt(np.sum((positions[i] - positions[j]) ** 2))
            sr6 = (SIGMA_AR / r) ** 6
            energy = energy + 4 * EPSILON_AR * (sr6**2 - sr6)
    return energy


def _bond_energy(a, b):
    r = np.linalg.norm(a - b)
    return K_BOND_OH * (r - B0_OH) ** 2


def _angle_energy(h1, o, h2):
    u, v = h1 - o, h2 - o
    cos_theta = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v))
    return K_ANGLE_HOH * (np.arccos(cos_theta) - THETA0_HOH) ** 2


def water_bonded_energy(positions):
    """CHARMM flexible-water bonded energy (J) of one H2O, positions (3, 3) in m (O, H, H).

    The terms are summed with ``np.sum`` of a Python list, the way such code is often written.
    """
    o, h1, h2 = positions[0], positions[1], positions[2]
    return np.sum([_bond_energy(o, h1), _bond_energy(o, h2), _angle_energy(h1, o, h2)])


def water_dimer_coulomb(positions):
    """TIP3P Coulomb energy (J) between two water molecules, positions (6, 3) in m."""
    charges = np.concatenate([TIP3P_CHARGES, TIP3P_CHARGES])
    energy = 0.0
    for i in range(3):
        for j in range(3, 6):
            r = np.linalg.norm(positions[i] - positions[j])
            energy = energy + COULOMB_K * charges[i] * charges[j] / r
    return energy


def morse_h2(r):
    """Morse energy (J) of H2 at bond lengths r (m), zero at dissociation."""
    return MORSE_DE_H2 * (1 - np.exp(-MORSE_A_H2 * (r - MORSE_RE_H2))) ** 2 - MORSE_DE_H2
