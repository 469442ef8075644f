"""Simulated sCMOS camera frames, the built-in data of demos, tests and benchmarks.

The model is that of a single-molecule localisation acquisition: a camera
with an ADU offset, a gain (electrons per ADU) and Gaussian read noise,
looking at a smooth Poisson background with blinking diffraction-limited
spots.  The frames are reproducible from ``seed``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np

__all__ = ["Camera", "CAMERA", "background", "camera_frames"]


@dataclass(frozen=True)
class Camera:
    """Parameters of a simulated camera.

    Attributes
    ----------
    ad_offset : float
        Dark level in ADU.
    electrons_per_adu : float
        Conversion gain (photo-electrons per ADU).
    read_noise_e : float
        Read noise, standard deviation in electrons.
    background_e : float
        Background in photo-electrons per pixel at the edges of the field
        (see :func:`background`).
    spot_photons : float
        Mean photons of a spot.
    spot_density : float
        Spots per pixel per frame.
    """

    ad_offset: float = 100.0
    electrons_per_adu: float = 0.5
    read_noise_e: float = 1.5
    background_e: float = 20.0
    spot_photons: float = 1500.0
    spot_density: float = 2e-4

    def noise_sigma_adu(self, signal_adu: np.ndarray) -> np.ndarray:
        """Standard deviation in ADU of a pixel whose mean is ``signal_adu``.

        Combines Poisson (photon) noise and read noise.
        """
        e = self.electrons_per_adu
        photo = np.maximum(np.asarray(signal_adu, dtype=np.float64) - self.ad_offset, 0.0)
        return np.sqrt(photo / e + (self.read_noise_e / e) ** 2)


CAMERA = Camera()


def background(shape: Tuple[int, int], camera: Camera = CAMERA) -> np.ndarray:
    """Expected background of every pixel in photo-electrons.

    A Gaussian illumination profile: ``camera.background_e`` at the corners,
    up to 1.5 times that in the centre.

    Parameters
    ----------
    shape : (int, int)
        Frame shape (x, y).
    camera : Camera
        Camera model.

    Returns
    -------
    numpy.ndarray
        float64 array of ``shape``.
    """
    yy, xx = np.meshgrid(np.linspace(-1, 1, int(shape[1])), np.linspace(-1, 1, int(shape[0])))
    return camera.background_e * (1.0 + 0.5 * np.exp(-(xx ** 2 + yy ** 2) / 0.5))


def camera_frames(n_frames: int, shape: Tuple[int, int] = (2048, 2048), *,
                  seed: int = 0, camera: Camera = CAMERA) -> np.ndarray:
    """Simulate a series of uint16 camera frames.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    shape : (int, int)
        Frame shape (x, y).
    seed : int
        Seed of the random generator; equal seeds give equal frames.
    camera : Camera
        Camera model.

    Returns
    -------
    numpy.ndarray
        uint16 array of shape ``(n_frames, x, y)``.
    """
    rng = np.random.default_rng(seed)
    w, h = int(shape[0]), int(shape[1])
    bg = background((w, h), camera)
    out = np.empty((n_frames, w, h), dtype=np.uint16)
    n_spots = max(1, int(camera.spot_density * w * h))
    sx = rng.uniform(0, w, n_spots)
    sy = rng.uniform(0, h, n_spots)
    radius = 4
    offs = np.arange(-radius, radius + 1)
    for i in range(n_frames):
        expected = bg.copy()
        on = rng.random(n_spots) < 0.3  # blinking
        for x0, y0 in zip(sx[on], sy[on]):
            ix, iy = int(x0), int(y0)
            gx = np.exp(-((ix + offs - x0) ** 2) / (2 * 1.3 ** 2))
            gy = np.exp(-((iy + offs - y0) ** 2) / (2 * 1.3 ** 2))
            psf = np.outer(gx, gy)
            psf *= camera.spot_photons / psf.sum()
            x_lo, x_hi = max(ix - radius, 0), min(ix + radius + 1, w)
            y_lo, y_hi = max(iy - radius, 0), min(iy + radius + 1, h)
            expected[x_lo:x_hi, y_lo:y_hi] += psf[x_lo - ix + radius:x_hi - ix + radius,
                                                  y_lo - iy + radius:y_hi - iy + radius]
        electrons = rng.poisson(expected) + rng.normal(0.0, camera.read_noise_e, (w, h))
        adu = electrons / camera.electrons_per_adu + camera.ad_offset
        out[i] = np.clip(np.rint(adu), 0, 65535)
    return out
