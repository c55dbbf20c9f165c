"""Identity checks (000 4.3.4 item 2; 001 7.1.2 "人脸识别认证"): the live photo taken with an
action is compared with the photo registered for the person on the project, offline.

The default matcher, :class:`DlibMatcher`, runs dlib (``dlib-bin``, a prebuilt wheel) with
two model files that ``face_recognition_models`` ships, both released by their author into the
public domain (CC0): dlib's HOG frontal-face detector finds the largest face, the 5-point
landmark model aligns it, and the ResNet face-recognition model turns it into a 128-number
descriptor. Two photos are of the same person when the descriptors' euclidean distance is at
most the region's threshold (0.6 by default, the radius the model was trained to: see
docs/sampling.md). Nothing is downloaded at run time; the models load once per process, on
the first check.

A deployment may plug in its own matcher (a licensed SDK or a government identity service)
by implementing :class:`FaceMatcher` and naming it in ``JCJG_IDENTITY_MATCHER``
(``module:attribute``); ``jcjg.sampling.identity:NotChecked`` turns comparison off (photos
kept, ``not_checked`` recorded).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from jcjg.config import Settings
from jcjg.sampling.choices import IdentityResult

DEFAULT_THRESHOLD = 0.6
# Photos are scaled down to this longest side before detection: a phone's 12-megapixel photo
# takes seconds to scan at full size, and a face in a portrait photo is far above the
# detector's smallest (80 pixels) at this size.
MAX_SIDE = 1024


@dataclass(frozen=True)
class MatchResult:
    result: IdentityResult
    method: str
    distance: float | None = None


class FaceMatcher(Protocol):
    def compare(self, live: bytes, reference: bytes | None, *, threshold: float) -> MatchResult:
        """``passed`` / ``failed`` (with the distance), ``no_face`` when the live photo shows no
        face, ``not_checked`` when there is nothing to compare with."""
        ...


class NotChecked:
    """Comparison turned off: keeps the evidence, makes no claim."""

    method = "none"

    def compare(self, live: bytes, reference: bytes | None, *, threshold: float) -> MatchResult:
        return MatchResult(IdentityResult.NOT_CHECKED, self.method)


class NoFaceModels(RuntimeError):
    """The model files are not installed (``face_recognition_models`` missing)."""


def models_dir() -> Path:
    """Where ``face_recognition_models`` keeps its model files, found without importing the
    package (its ``__init__`` imports ``pkg_resources``, deprecated and gone from recent
    setuptools)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise NoFaceModels("face_recognition_models 未安装：无法进行人脸比对")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@dataclass(frozen=True)
class _Models:
    detector: Any
    landmarks: Any
    encoder: Any


_lock = threading.Lock()


@functools.cache
def _models() -> _Models:
    """dlib's detector and the two models, loaded once per process (about 0.4 s)."""
    import dlib  # local: only a check loads the C++ library

    folder = models_dir()
    return _Models(
        detector=dlib.get_frontal_face_detector(),
        landmarks=dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat")),
        encoder=dlib.face_recognition_model_v1(
            str(folder / "dlib_face_recognition_resnet_model_v1.dat")
        ),
    )


def _pixels(data: bytes) -> Any:
    """The photo as an RGB array, turned upright as the phone held it and scaled down to
    :data:`MAX_SIDE`; None when it is not an image."""
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a reduced size
            upright = ImageOps.exif_transpose(image).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    upright.thumbnail((MAX_SIDE, MAX_SIDE))
    return np.asarray(upright)


class DlibMatcher:
    """Face verification with dlib's ResNet model (LFW accuracy 99.38 % at distance 0.6).
    Registered photos' descriptors are kept (the last :attr:`KEEP`, by content): a person's
    registered photo is compared with every photo they take."""

    method = "dlib-resnet-v1"
    KEEP = 512

    def __init__(self) -> None:
        self._enrolled: OrderedDict[str, Any] = OrderedDict()

    def enrolled(self, data: bytes) -> Any:
        """:meth:`descriptor` of a registered photo, computed once."""
        key = hashlib.sha256(data).hexdigest()
        with _lock:
            if key in self._enrolled:
                self._enrolled.move_to_end(key)
                return self._enrolled[key]
        found = self.descriptor(data)
        with _lock:
            self._enrolled[key] = found
            while len(self._enrolled) > self.KEEP:
                self._enrolled.popitem(last=False)
        return found

    def descriptor(self, data: bytes) -> Any:
        """The 128-number descriptor of the largest face in the photo, or None."""
        import numpy as np

        pixels = _pixels(data)
        if pixels is None:
            return None
        models = _models()
        with _lock:  # one dlib call at a time: the models are not documented as thread-safe
            faces = models.detector(pixels, 0)
            if not faces and max(pixels.shape[:2]) <= MAX_SIDE // 2:
                faces = models.detector(pixels, 1)  # a small photo: look for smaller faces
            if not faces:
                return None
            face = max(faces, key=lambda box: box.area())
            shape = models.landmarks(pixels, face)
            return np.array(models.encoder.compute_face_descriptor(pixels, shape))

    def finds_face(self, data: bytes) -> bool:
        """Whether a photo to be registered shows a face the matcher can compare with (its
        descriptor is kept for the checks to come)."""
        return self.enrolled(data) is not None

    def compare(self, live: bytes, reference: bytes | None, *, threshold: float) -> MatchResult:
        import numpy as np

        if reference is None:
            return MatchResult(IdentityResult.NOT_CHECKED, self.method)
        seen = self.descriptor(live)
        if seen is None:
            return MatchResult(IdentityResult.NO_FACE, self.method)
        enrolled = self.enrolled(reference)
        if enrolled is None:  # the registered photo shows no face: nothing to compare with
            return MatchResult(IdentityResult.NOT_CHECKED, self.method)
        distance = round(float(np.linalg.norm(seen - enrolled)), 4)
        passed = distance <= threshold
        return MatchResult(
            IdentityResult.PASSED if passed else IdentityResult.FAILED, self.method, distance
        )


@functools.cache
def load_matcher(spec: str | None) -> FaceMatcher:
    """The configured matcher (``module:attribute`` naming a class or an instance; empty: dlib),
    made once per process."""
    if not spec:
        return DlibMatcher()
    module_name, _, attr = spec.partition(":")
    target = getattr(importlib.import_module(module_name), attr)
    matcher: FaceMatcher = target() if isinstance(target, type) else target
    return matcher


def registered_photo_problem(settings: Settings, data: bytes) -> str | None:
    """Why a photo uploaded to register a witness or sampler cannot serve the identity checks
    (no face the matcher finds), or None; a deployment's own matcher without ``finds_face``
    is not asked (hook ``projects.member_photo_problem``)."""
    finds_face = getattr(load_matcher(settings.identity_matcher), "finds_face", None)
    if finds_face is None or finds_face(data):
        return None
    return "照片中未检测到人脸：请上传本人近期正面免冠照片（现场身份核验以此照片为准）"


def threshold_for(settings: Settings, region_code: str) -> float:
    """The largest distance that still counts as the same person in a region: the longest
    matching prefix of ``JCJG_IDENTITY_THRESHOLD``, else 0.6."""
    best, threshold = -1, DEFAULT_THRESHOLD
    for prefix, value in settings.identity_threshold.items():
        if region_code.startswith(prefix) and len(prefix) > best:
            best, threshold = len(prefix), value
    return threshold
