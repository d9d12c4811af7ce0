"""Face anonymizer: detect faces with OpenCV's pretrained Haar cascades, then hide them."""

from __future__ import annotations

import tempfile
from pathlib import Path as FsPath

import cv2
import numpy as np
from cog import BaseRunner, Input, Path

CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_profileface.xml")


def load() -> list[cv2.CascadeClassifier]:
    """The frontal and profile face detectors bundled in the opencv wheel."""
    detectors = []
    for name in CASCADES:
        detector = cv2.CascadeClassifier(str(FsPath(cv2.data.haarcascades) / name))
        if detector.empty():
            raise RuntimeError(f"OpenCV's {name} is missing; reinstall opencv-python-headless.")
        detectors.append(detector)
    return detectors


def detect(
    detectors: list[cv2.CascadeClassifier], image: np.ndarray, min_neighbors: int, min_size: int
) -> list[tuple[int, int, int, int]]:
    """Face boxes (x, y, w, h) from every detector, in image coordinates."""
    gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    boxes: list[tuple[int, int, int, int]] = []
    for detector in detectors:
        found = detector.detectMultiScale(
            gray, scaleFactor=1.1, minNeighbors=min_neighbors, minSize=(min_size, min_size)
        )
        boxes.extend(tuple(int(v) for v in box) for box in found)
    return boxes


def hide(image: np.ndarray, boxes: list[tuple[int, int, int, int]], mode: str) -> np.ndarray:
    """A copy of `image` with each box blurred, pixelated or outlined."""
    out = image.copy()
    for x, y, w, h in boxes:
        region = out[y : y + h, x : x + w]
        if mode == "blur":
            k = max(3, (min(w, h) // 3) | 1)
            out[y : y + h, x : x + w] = cv2.GaussianBlur(region, (k, k), 0)
        elif mode == "pixelate":
            small = cv2.resize(region, (8, 8), interpolation=cv2.INTER_LINEAR)
            out[y : y + h, x : x + w] = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
        else:
            cv2.rectangle(out, (x, y), (x + w, y + h), (0, 255, 0), max(2, w // 40))
    return out


class Runner(BaseRunner):
    def setup(self) -> None:
        self.detectors = load()

    def run(
        self,
        image: Path = Input(description="A photo (JPEG, PNG or WebP)."),
        mode: str = Input(
            description="How to hide each face: blur, pixelate, or box (outline only).",
            choices=["blur", "pixelate", "box"],
            default="blur",
        ),
        min_neighbors: int = Input(
            description="Detector strictness: higher finds fewer, surer faces.",
            default=5,
            ge=1,
            le=20,
        ),
        min_size: int = Input(
            description="Smallest face to find, in pixels.", default=24, ge=8, le=1024
        ),
    ) -> Path:
        """The image, same size, with every face found hidden; a PNG file."""
        picture = cv2.imread(str(image), cv2.IMREAD_COLOR)
        if picture is None:
            raise ValueError("image is not a picture OpenCV can read (use JPEG, PNG or WebP).")
        boxes = detect(self.detectors, picture, min_neighbors, min_size)
        print(f"Found {len(boxes)} face(s)")
        target = FsPath(tempfile.mkdtemp()) / "anonymized.png"
        cv2.imwrite(str(target), hide(picture, boxes, mode))
        return Path(target)
