"""Public API: Watermarker (one key), Keyring (every kept key), Extraction (the answer)."""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from statistics import NormalDist

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

from . import _blind, _embed, _informed, _verify
from ._codec import PAYLOAD_BITS, Decoded, PayloadCodec
from ._errors import InvalidKey, InvalidPayload, UnsupportedImage
from ._image import U8Image, check_size, luminance_of, to_rgb, to_rgb_image
from ._informed import DIFF_SIGMA
from ._lattice import TEXTURE
from ._pattern import TileLayout, upsample_cells
from ._result import Extraction
from ._signal import (
    B8,
    F32,
    PilotHit,
    Templates,
    cyclic_highpass,
    find_pilot,
    fold,
    other_peaks,
    read_cells,
    soft_bits,
    templates,
)

MIN_KEY_BYTES = 32
# Quality of the marked downloads (docs/watermark.md).
JPEG_QUALITY = 92
# A fold whose pilot peak stands less than this many noise deviations above the rest is
# not worth decoding (it costs time and adds to the false-alarm budget).
PILOT_GATE = 4.0
# Upper bound on lattice hypotheses tried per image (shared by all keys), besides the few of
# each level's first look (_blind.FIRST_LOOK).
MAX_GEOMETRIES = 32
# Hypotheses of each level's texture stage (_lattice.texture_candidates) screened at most,
# besides MAX_GEOMETRIES: it runs only when the rest of the level found nothing.
MAX_TEXTURE_GEOMETRIES = 100
# Pilot score a hypothesis needs at the analysis resolution to be read at full resolution,
# and how many such reads at most.
SCREEN_GATE = 3.8
# Screen score at which a hypothesis is read at once, before any other is screened.
EARLY_GATE = 7.0
MAX_FULL_READS = 6
MAX_SCAN_READS = 3
# Geometry corrections from the pilot's drift across the image, when the first read fails.
REFINE_ROUNDS = 2
REFINE_GATE = 4.5
# Further pilot peaks decoded in a read whose strongest peak did not decode (a copy made of
# several downloads shows one peak per download).
COLLUSION_PEAKS = 2
# With the original subtracted the pilot stands out of a much quieter fold.
INFORMED_GATE = 3.5
# Candidate scoring: a false match among K candidates must stay below 1e-10 per query;
# see candidate_threshold() and docs/watermark.md.
CANDIDATE_FALSE_ALARM = 1e-10
CANDIDATE_MARGIN = 2.0


def candidate_threshold(count: int) -> float:
    """Score (in noise deviations) a candidate needs when `count` are tried."""
    return -NormalDist().inv_cdf(CANDIDATE_FALSE_ALARM / max(1, count))


@dataclass(frozen=True)
class _Folded:
    """One geometry hypothesis, resampled and folded (the same for every key)."""

    geometry: _blind.Geometry
    grid: F32
    valid: B8
    folded: F32


class Watermarker:
    """Embeds and reads marks under one secret key."""

    payload_bits: int = PAYLOAD_BITS

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray):
            raise InvalidKey("watermark key must be bytes")
        if len(key) < MIN_KEY_BYTES:
            raise InvalidKey(
                f"watermark key must be at least {MIN_KEY_BYTES} bytes, got {len(key)}"
            )
        key = bytes(key)
        self._codec = PayloadCodec(key)
        self._layout = TileLayout.from_key(key, self._codec.n_bits)
        self._templates: Templates = templates(self._layout)
        self._informed_templates: Templates = templates(self._layout, DIFF_SIGMA)

    def __repr__(self) -> str:
        # Never show key material.
        return "Watermarker(<key>)"

    def _check_payload(self, payload: object) -> int:
        if isinstance(payload, bool) or not isinstance(payload, int | np.integer):
            raise InvalidPayload(f"payload must be an integer, got {type(payload).__name__}")
        value = int(payload)
        if not 0 <= value < 2**self.payload_bits:
            raise InvalidPayload(f"payload must be in [0, 2**{self.payload_bits}), got {value}")
        return value

    def embed_array(
        self, rgb: U8Image, payload: int, *, bgr: bool = False, in_place: bool = False
    ) -> U8Image:
        """Mark an (h, w, 3) uint8 array, RGB (or BGR with ``bgr``, OpenCV's order: the luma
        that sets the mark's strength weighs the channels accordingly); deterministic for
        (key, payload, pixels). ``in_place`` marks the caller's array itself."""
        value = self._check_payload(payload)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise UnsupportedImage("expected an (h, w, 3) uint8 array")
        height, width = rgb.shape[:2]
        check_size(width, height)
        grid = _embed.Grid.for_size(width, height)
        to_gray = cv2.COLOR_BGR2GRAY if bgr else cv2.COLOR_RGB2GRAY
        luma = np.asarray(cv2.cvtColor(rgb, to_gray), np.uint8)
        delta = self._difference(_embed.grid_luma(luma, grid), grid, value)
        return _embed.apply_difference(rgb, delta, in_place=in_place)

    def embed(self, image: Image.Image, payload: int) -> Image.Image:
        """Return an RGB copy of ``image`` of the same size carrying ``payload``."""
        value = self._check_payload(payload)
        rgb = to_rgb_image(image)
        grid = _embed.Grid.for_size(*rgb.size)
        delta = self._difference(_embed.grid_luma_image(rgb, grid), grid, value)
        return _embed.apply_difference_image(rgb, delta)

    def embed_jpeg(self, data: bytes, payload: int, quality: int = JPEG_QUALITY) -> bytes:
        """JPEG bytes in, marked JPEG bytes out (4:2:0 at ``quality``): the download path.

        Decoded and encoded by OpenCV's libjpeg-turbo straight into and out of one numpy
        array (the EXIF orientation applied, metadata dropped, as the clean masters already
        are), so no 12 MP copy between Pillow and numpy is made. Other formats go through
        Pillow and ``embed``.
        """
        value = self._check_payload(payload)
        if not data.startswith(b"\xff\xd8"):
            return self._embed_other(data, value, quality)
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            return self._embed_other(data, value, quality)
        height, width = bgr.shape[:2]
        check_size(width, height)
        grid = _embed.Grid.for_size(width, height)
        # BT.601 luma of a BGR array: the weights follow the channel order.
        luma = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), np.uint8)
        delta = self._difference(_embed.grid_luma(luma, grid), grid, value)
        del luma
        marked = _embed.apply_difference(np.asarray(bgr, np.uint8), delta, in_place=True)
        ok, encoded = cv2.imencode(
            ".jpg",
            marked,
            [cv2.IMWRITE_JPEG_QUALITY, int(quality), cv2.IMWRITE_JPEG_SAMPLING_FACTOR, 0x221111],
        )
        if not ok:  # pragma: no cover - OpenCV encodes any 8-bit array
            raise UnsupportedImage("marked image could not be encoded")
        return bytes(encoded.tobytes())

    def _embed_other(self, data: bytes, value: int, quality: int) -> bytes:
        try:
            with Image.open(io.BytesIO(data)) as opened:
                image = ImageOps.exif_transpose(opened)
                image.load()
        except (OSError, ValueError, SyntaxError) as error:
            raise UnsupportedImage(f"image could not be decoded: {error}") from error
        buf = io.BytesIO()
        self.embed(image, value).save(buf, "JPEG", quality=quality, subsampling="4:2:0")
        return buf.getvalue()

    def _difference(self, grid_y: F32, grid: _embed.Grid, value: int) -> F32:
        """The luminance change at grid resolution for this payload."""
        cells = self._layout.cell_values(self._codec.encode(value))
        pattern = _embed.tiled_pattern(
            self._layout, cells, self._layout.origin(value), (grid.grid_height, grid.grid_width)
        )
        return _embed.mark_difference(grid_y, pattern)

    def extract(
        self,
        suspect: Image.Image,
        original: Image.Image | None = None,
        candidates: Iterable[int] | None = None,
    ) -> Extraction:
        """Read the payload from a suspect copy, blind or with the original photo at hand."""
        return Keyring({"": self}).extract(suspect, original, candidates)

    def verify(self, image: Image.Image | U8Image, payload: int) -> _verify.Verification:
        """Check, without any search, that a freshly marked file carries ``payload``.

        ``image`` must have the pixel size the embedder was given (the marked file itself,
        re-encoded or not); a resized, cropped or turned copy needs ``extract``. Far cheaper
        than a blind read: one resize to the embedding grid, one fold, a few small FFTs.
        Rejects unmarked files, files marked with another payload and files marked under
        another key; the false-accept arithmetic is in docs/watermark.md.
        """
        value = self._check_payload(payload)
        rgb = self._rgb_for_check(image)
        bits = self._codec.encode(value)
        return _verify.verify_luma(
            _verify.gray(rgb),
            layout=self._layout,
            tpl=self._templates,
            cells=self._layout.cell_values(bits),
            bits=bits,
            origin=self._layout.origin(value),
        )

    def colluders(
        self, image: Image.Image | U8Image, candidates: Iterable[int]
    ) -> list[tuple[int, float]]:
        """Which of ``candidates`` (this photo's known downloads) marked this copy.

        For a copy of the delivered size, such as several full-size downloads averaged or
        cut together: every candidate is scored at its own tile origin, with no search, and
        those whose score clears the threshold for this many candidates are returned with
        their scores (noise deviations), strongest first. An empty list names nobody.
        """
        rgb = self._rgb_for_check(image)
        wanted = [self._check_payload(c) for c in candidates]
        cands = []
        for value in dict.fromkeys(wanted):
            bits = self._codec.encode(value)
            cands.append(
                _verify.Candidate(
                    value, bits, self._layout.cell_values(bits), self._layout.origin(value)
                )
            )
        return _verify.colluders(
            _verify.gray(rgb),
            layout=self._layout,
            tpl=self._templates,
            n_bits=self._codec.n_bits,
            candidates=cands,
        )

    def _rgb_for_check(self, image: Image.Image | U8Image) -> U8Image:
        if isinstance(image, np.ndarray):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise UnsupportedImage("expected an (h, w, 3) uint8 array or a PIL image")
            return image
        return to_rgb(image)

    # Internals shared with Keyring -------------------------------------------------------

    def _decode(
        self, folded: F32, hit: PilotHit, tpl: Templates | None = None
    ) -> tuple[Decoded | None, float, int]:
        cells = read_cells(folded, hit, tpl or self._templates)
        soft = soft_bits(cells, self._layout, self._codec.n_bits)
        decoded = self._codec.decode(soft.values)
        confidence = 0.0
        if decoded is not None:
            confidence = _confidence(soft.values, self._codec.encode(decoded.payload))
        return decoded, confidence, PayloadCodec.attempts_per_decode()

    def _read_informed(self, folded: F32, candidates: Sequence[int] | None) -> Extraction:
        """Decode a fold of (suspect - original) on the original's own grid."""
        tpl = self._informed_templates
        hit = find_pilot(folded, tpl, (0,))
        attempts = 0
        if hit.score >= INFORMED_GATE:
            decoded, confidence, used = self._decode(folded, hit, tpl)
            attempts += used
            if decoded is not None:
                return Extraction(
                    payload=decoded.payload,
                    confidence=confidence,
                    method="informed",
                    pilot_score=hit.score,
                    bit_errors=decoded.bit_errors,
                    attempts=attempts,
                )
        if candidates:
            payload, z = self._best_candidate(folded, candidates)
            attempts += len(candidates)
            if payload is not None:
                return Extraction(
                    payload=payload,
                    confidence=float(min(1.0, z / (2.0 * candidate_threshold(len(candidates))))),
                    method="informed",
                    pilot_score=hit.score,
                    attempts=attempts,
                )
        return Extraction(
            payload=None,
            confidence=0.0,
            method="informed",
            pilot_score=hit.score,
            attempts=attempts,
        )

    def _best_candidate(self, folded: F32, candidates: Sequence[int]) -> tuple[int | None, float]:
        """Score each known download of this photo by its exact expected pattern.

        Only data cells are compared (pilot cells are the same for every payload), at the
        tile origin that payload puts them; the score is in noise deviations, the noise
        measured over every other cyclic shift. The winner must clear a threshold that
        grows with the number of candidates and beat the runner-up clearly.
        """
        spectrum = np.fft.fft2(folded)
        scores: list[tuple[float, int]] = []
        for value in candidates:
            payload = self._check_payload(value)
            cells = self._layout.cell_values(self._codec.encode(payload))
            cells = np.where(self._layout.pilot, 0.0, cells).astype(np.float32)
            ox, oy = self._layout.origin(payload)
            tile = cyclic_highpass(
                upsample_cells(np.roll(cells, (oy, ox), axis=(0, 1))), DIFF_SIGMA
            )
            corr = np.real(np.fft.ifft2(spectrum * np.conj(np.fft.fft2(tile))))
            rest = corr.ravel()[1:]
            centre = float(np.median(rest))
            spread = 1.4826 * float(np.median(np.abs(rest - centre))) + 1e-12
            scores.append(((float(corr[0, 0]) - centre) / spread, payload))
        scores.sort(reverse=True)
        top, payload = scores[0]
        runner_up = scores[1][0] if len(scores) > 1 else 0.0
        if top >= candidate_threshold(len(candidates)) and top - runner_up >= CANDIDATE_MARGIN:
            return payload, top
        return None, top

    def _read_blind(
        self, pyramid: _blind.Pyramid, item: _Folded
    ) -> tuple[Extraction | None, float, int]:
        """Pilot search, decode, and if that fails, correct the geometry and try again."""
        hit = find_pilot(item.folded, self._templates)
        if hit.score < PILOT_GATE:
            return None, hit.score, 0
        lattice = item.geometry.lattice
        grid, valid, folded = item.grid, item.valid, item.folded
        attempts = 0
        best = hit.score
        for round_ in range(REFINE_ROUNDS + 1):
            decoded, confidence, used = self._decode(folded, hit)
            attempts += used
            if decoded is not None:
                geom = replace(item.geometry, lattice=lattice)
                return (
                    Extraction(
                        payload=decoded.payload,
                        confidence=confidence,
                        method="blind",
                        pilot_score=hit.score,
                        bit_errors=decoded.bit_errors,
                        cell_pitch=geom.pitch,
                        angle=geom.angle,
                        # Earlier failed decodes in this read, plus the checks this one made.
                        attempts=attempts - used + decoded.attempts,
                    ),
                    best,
                    attempts - used + decoded.attempts,
                )
            if round_ == 0:
                # Several downloads averaged or cut together: each has its own origin and so
                # its own pilot peak. Decode the next ones too; only an authentic id decodes.
                for other in other_peaks(folded, self._templates, hit, COLLUSION_PEAKS):
                    if other.score < PILOT_GATE:
                        break
                    decoded, confidence, used = self._decode(folded, other)
                    attempts += used
                    if decoded is not None:
                        return (
                            Extraction(
                                payload=decoded.payload,
                                confidence=confidence,
                                method="blind",
                                pilot_score=other.score,
                                bit_errors=decoded.bit_errors,
                                cell_pitch=item.geometry.pitch,
                                angle=item.geometry.angle,
                                attempts=attempts - used + decoded.attempts,
                            ),
                            best,
                            attempts - used + decoded.attempts,
                        )
            if round_ == REFINE_ROUNDS or hit.score < REFINE_GATE:
                break
            jac = _blind.drift(grid, valid, hit, self._templates)
            if jac is None:
                break
            lattice = _blind.corrected(lattice, jac)
            grid, valid = _blind.to_grid(pyramid, lattice)
            folded, _ = fold(grid, valid)
            hit = find_pilot(folded, self._templates, (hit.orientation,))
            best = max(best, hit.score)
        return None, best, attempts


def _confidence(soft: np.ndarray, bits: np.ndarray) -> float:
    """Normalised correlation of the soft channel values with the accepted codeword, in [0, 1]."""
    signed = np.where(bits, soft, -soft)
    norm = float(np.sqrt(np.sum(soft * soft)))
    if norm <= 0:
        return 0.0
    return float(np.clip(np.sum(signed) / (norm * math.sqrt(len(soft))), 0.0, 1.0))


@dataclass
class _Search:
    """Running totals of one blind search: decode attempts, best pilot, full reads made, and
    the screened hypotheses not read yet (pilot score, order, key version, geometry)."""

    attempts: int = 0
    best_score: float = 0.0
    reads: int = 0
    screened: list[tuple[float, int, str, _blind.Geometry]] = field(default_factory=list)


class Keyring:
    """Every watermark key the server keeps, by version; extraction tries all of them.

    Marks do not say which key made them: each key only changes the pseudo-random pattern,
    so a reader must try each kept key, and nobody without the keys can tell versions apart.
    """

    def __init__(self, keys: Mapping[str, bytes | Watermarker]) -> None:
        if not keys:
            raise InvalidKey("a keyring needs at least one key")
        self._marks: dict[str, Watermarker] = {
            version: key if isinstance(key, Watermarker) else Watermarker(key)
            for version, key in keys.items()
        }

    @property
    def versions(self) -> Sequence[str]:
        return list(self._marks)

    def __getitem__(self, version: str) -> Watermarker:
        return self._marks[version]

    def _full_reads(
        self,
        pyramid: _blind.Pyramid,
        picks: Sequence[tuple[float, int, str, _blind.Geometry]],
        before: int,
        budget: int,
    ) -> tuple[Extraction | None, int, float, int]:
        """Read each pick at full resolution, at most `budget` reads; `before` counts checks
        already made. Returns the answer, the checks, the best pilot and the reads made.

        A pick whose screen was clear (EARLY_GATE) and whose read does not decode is read
        once more from the locally normalised residual (Pyramid.local), as a read of its
        own: a fence's wires can drown the mark in the usual residual where the screen,
        made in the texture stage's residual, still saw it.
        """
        attempts = before
        best = 0.0
        reads = 0
        for screen, _, version, geometry in picks:
            if reads >= budget:
                break
            for source in (pyramid, pyramid.local()):
                if reads >= budget or (source is not pyramid and screen < EARLY_GATE):
                    break
                mark = self._marks[version]
                grid, valid = _blind.to_grid(source, geometry.lattice)
                folded, _ = fold(grid, valid)
                result, score, used = mark._read_blind(
                    source, _Folded(geometry, grid, valid, folded)
                )
                reads += 1
                attempts += used
                best = max(best, score)
                if result is not None:
                    return (
                        replace(result, key_version=version or None, attempts=attempts),
                        attempts,
                        best,
                        reads,
                    )
        return None, attempts, best, reads

    def _lattice_search(self, pyramid: _blind.Pyramid, search: _Search) -> Extraction | None:
        """Every lattice hypothesis, folded at the analysis resolution and scored by each
        key's pilot; only the most promising get the full-resolution read.

        A hypothesis whose pilot already stands out clearly (EARLY_GATE) is read at once,
        before the rest of its batch is screened and before the next batch (the level's
        full search after its first look, then the coarser level) is searched: most marked
        copies decode with the first hypothesis of the first look. The rest are left in
        `search.screened` for the caller.
        """
        n = 0
        looked: list[_blind.Geometry] = []
        for batch in _blind.geometries_by_level(pyramid):
            textured = batch.stage == TEXTURE
            for k, geometry in enumerate(batch.geometries):
                if batch.first_look:
                    looked.append(geometry)
                elif textured:
                    if k >= MAX_TEXTURE_GEOMETRIES:
                        break
                elif n >= MAX_GEOMETRIES:
                    break
                elif any(_blind.repeats(geometry, other) for other in looked):
                    n += 1  # screened (and read, if clear) in the first look
                    continue
                found = self._screen(pyramid, geometry, -n, search, keep=not textured)
                if found is not None:
                    return found
                n += 0 if batch.first_look or textured else 1
        return None

    def _screen(
        self,
        pyramid: _blind.Pyramid,
        geometry: _blind.Geometry,
        order: int,
        search: _Search,
        keep: bool = True,
    ) -> Extraction | None:
        """Score one hypothesis under every key; read it at once if its pilot is clear.

        Otherwise it is kept for the reads after the search only with `keep`: the texture
        stage's many hypotheses are read when clear, never crowd out the rest.
        """
        grid, valid = _blind.warp_to_grid(geometry.residual, geometry.level_lattice)
        folded, _ = fold(grid, valid)
        early: list[tuple[float, int, str, _blind.Geometry]] = []
        for version, mark in self._marks.items():
            hit = find_pilot(folded, mark._templates)
            search.best_score = max(search.best_score, hit.score)
            item = (hit.score, order, version, geometry)
            if hit.score >= EARLY_GATE and search.reads < MAX_FULL_READS:
                early.append(item)
            elif keep and hit.score >= SCREEN_GATE:
                search.screened.append(item)
        early.sort(reverse=True, key=lambda item: (item[0], item[1]))
        found, search.attempts, score, reads = self._full_reads(
            pyramid, early, search.attempts, MAX_FULL_READS - search.reads
        )
        search.reads += reads
        search.best_score = max(search.best_score, score)
        return found

    def extract(
        self,
        suspect: Image.Image,
        original: Image.Image | None = None,
        candidates: Iterable[int] | None = None,
        placement: npt.ArrayLike | None = None,
    ) -> Extraction:
        """Read a suspect copy under every kept key; see Watermarker.extract.

        ``placement``, with ``original``: where the suspect lies on the original, as an
        affine map (2 x 3 or 3 x 3) from suspect pixels to original pixels, when the caller
        already knows it to a pixel or two (a small part of a large photo, found by its own
        features); it replaces the reader's registration, and is still refined on the grid.
        """
        first = next(iter(self._marks.values()))
        wanted = None if candidates is None else [first._check_payload(c) for c in candidates]
        luma = luminance_of(suspect, minimum=_blind.MIN_SUSPECT_SIDE)
        attempts = 0
        best_score = 0.0
        if original is not None:
            informed, registered = _informed.extract(
                self._marks, luma, to_rgb(original), wanted, placement=placement
            )
            if informed.payload is not None or registered:
                # A confident registration that does not decode is final: the blind
                # reader would see the same pixels without the original's help.
                return informed
            attempts += informed.attempts
            best_score = max(best_score, informed.pilot_score)
        pyramid = _blind.Pyramid(luma)
        search = _Search(attempts=attempts, best_score=best_score)
        found = self._lattice_search(pyramid, search)
        if found is not None:
            return found
        screened = sorted(search.screened, reverse=True, key=lambda item: (item[0], item[1]))
        found, attempts, score, _ = self._full_reads(
            pyramid, screened, search.attempts, MAX_FULL_READS - search.reads
        )
        best_score = max(search.best_score, score)
        if found is not None:
            return found
        # Second chance: scan cell sizes directly with the pilot (small or busy copies).
        scanned: list[tuple[float, int, str, _blind.Geometry]] = []
        for n, geometry in enumerate(_blind.scan_geometries(pyramid)):
            grid, valid = _blind.warp_to_grid(geometry.residual, geometry.level_lattice)
            folded, _ = fold(grid, valid)
            for version, mark in self._marks.items():
                hit = find_pilot(folded, mark._templates)
                scanned.append((hit.score, -n, version, geometry))
        scanned.sort(reverse=True, key=lambda item: (item[0], item[1]))
        found, attempts, score, _ = self._full_reads(pyramid, scanned, attempts, MAX_SCAN_READS)
        best_score = max(best_score, score)
        if found is not None:
            return found
        return Extraction(
            payload=None,
            confidence=0.0,
            method="informed" if original is not None else "blind",
            pilot_score=best_score,
            attempts=attempts,
        )
