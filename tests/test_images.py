"""Images and manifests: parsing (Docker v2 schema 2, OCI, index → linux/amd64), the
built-in catalog of ``../shared/data/images/``, inline YAML images, and bad manifests.

Every bad manifest must fail with one message naming the file; through the CLI that is
exit 2 with no traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import simulator
from models.container import ContainerConfig
from models.images import (
    BUILTIN,
    Catalog,
    ImageSettings,
    Layer,
    default_pull_policy,
    load_manifest,
    normalize_ref,
    parse_manifest,
)
from simulator.base import ConfigError
from simulator.loading import InputError
from simulator.registry import CATALOG

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"
PACKAGED = Path(__file__).resolve().parents[1] / "models" / "data" / "images"

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64
GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_TAR = "application/vnd.oci.image.layer.v1.tar"


def docker_manifest(*layers: tuple[str, int], media: str = GZIP) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7},
        "layers": [{"mediaType": media, "digest": d, "size": s} for d, s in layers],
    }


def write(folder: Path, name: str, doc: Any) -> Path:
    path = folder / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


# -- the built-in catalog ------------------------------------------------------------------------


def test_packaged_manifests_are_the_shared_ones() -> None:
    # The shared data folder sits beside a developer's checkout, not in a bare clone.
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not beside this checkout")
    shared = sorted(p.name for p in SHARED.glob("*.json"))
    assert shared, SHARED
    assert sorted(p.name for p in PACKAGED.glob("*.json")) == shared
    for name in shared:
        assert (PACKAGED / name).read_bytes() == (SHARED / name).read_bytes()


def test_builtin_catalog_is_keyed_by_name_and_tag() -> None:
    assert sorted(BUILTIN) == [
        "alpine:3.17.1",
        "debian:bullseye-20230109",
        "debian:bullseye-20230109-slim",
        "nginx:1.23.3",
        "node:18.13.0",
        "python:3.11.1",
        "python:3.11.1-slim",
        "ubuntu:jammy-20221130",
    ]
    nginx = BUILTIN["nginx:1.23.3"]
    assert [x.size for x in nginx.layers] == [31396972, 25470551, 626, 958, 772, 1404]
    assert nginx.size == 56871283
    # Uncompressed sizes from the default 2.7× ratio (the manifests carry none).
    assert nginx.layers[0].uncompressed == round(31396972 * 2.7)
    assert nginx.digest.startswith("sha256:4c1c50d0")


def test_calibration_notes_on_shared_layers_hold() -> None:
    # CALIBRATION.md: the debian:bullseye-slim base (31.4 MB) is layer 1 of nginx and
    # python-slim; python and node share debian:bullseye (55.0 MB) + buildpack-deps layers
    # (≈ 322 MB of ≈ 360 MB); ubuntu shares nothing with them.
    slim = BUILTIN["debian:bullseye-20230109-slim"].layers[0]
    assert slim.size == 31396972
    assert BUILTIN["nginx:1.23.3"].layers[0] == slim
    assert BUILTIN["python:3.11.1-slim"].layers[0] == slim
    python, node = BUILTIN["python:3.11.1"], BUILTIN["node:18.13.0"]
    shared = {x.digest for x in python.layers} & {x.digest for x in node.layers}
    shared_bytes = sum(x.size for x in python.layers if x.digest in shared)
    assert python.layers[0] == BUILTIN["debian:bullseye-20230109"].layers[0]
    assert 321e6 < shared_bytes < 323e6
    ubuntu = {x.digest for x in BUILTIN["ubuntu:jammy-20221130"].layers}
    others = {x.digest for ref, im in BUILTIN.items() if "ubuntu" not in ref for x in im.layers}
    assert not ubuntu & others


@pytest.mark.parametrize(
    ("ref", "found"),
    [
        ("ubuntu:jammy", "ubuntu:jammy-20221130"),
        ("debian:bullseye-slim", "debian:bullseye-20230109-slim"),
        ("debian:bullseye", "debian:bullseye-20230109"),
        ("docker.io/library/nginx:1.23.3", "nginx:1.23.3"),
        ("library/alpine:3.17.1", "alpine:3.17.1"),
        (
            "nginx@sha256:4c1c50d0ffc614f90b93b07d778028dc765548e823f676fb027f61d281ac380d",
            "nginx:1.23.3",
        ),
    ],
)
def test_catalog_lookups_accept_aliases_and_docker_hub_names(ref: str, found: str) -> None:
    image = BUILTIN.find(ref)
    assert image is not None and image.ref == found
    assert ref in BUILTIN


def test_unknown_references_are_not_found() -> None:
    assert BUILTIN.find("nginx") is None  # = nginx:latest, not shipped
    assert BUILTIN.find("nginx:1.23") is None
    assert normalize_ref("nginx") == "nginx:latest"
    assert normalize_ref("registry.example.com:5000/app") == "registry.example.com:5000/app:latest"


@pytest.mark.parametrize(
    ("ref", "policy"),
    [
        ("nginx:1.23.3", "IfNotPresent"),
        ("nginx:latest", "Always"),
        ("nginx", "Always"),
        ("registry.example.com:5000/app", "Always"),
        ("registry.example.com:5000/app:2", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
    ],
)
def test_default_pull_policy_follows_the_tag(ref: str, policy: str) -> None:
    assert default_pull_policy(ref) == policy


def test_builtin_images_are_listed_with_their_source() -> None:
    listed = {f.name: f for f in CATALOG if f.family == "image"}
    assert set(listed) == set(BUILTIN)
    assert "6 layers" in listed["nginx:1.23.3"].value
    assert "repo-info" in listed["nginx:1.23.3"].source


# -- parsing -------------------------------------------------------------------------------------


def test_docker_schema2_manifest() -> None:
    image = parse_manifest(docker_manifest((D1, 1000), (D2, 10)), "m.json", ref="app:1")
    assert image.ref == "app:1"
    assert image.layers == (Layer(D1, 1000, 2700, GZIP), Layer(D2, 10, 27, GZIP))


def test_oci_manifest_with_and_without_media_type() -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 7},
        "layers": [
            {"mediaType": OCI_GZIP, "digest": D1, "size": 100},
            {"mediaType": OCI_TAR, "digest": D2, "size": 50},
        ],
        "annotations": {"org.opencontainers.image.ref.name": "oci:1"},
    }
    image = parse_manifest(doc, "oci.json", ratio=3.0)
    assert image.ref == "oci:1"
    # An uncompressed tar layer is as big on disk as on the wire.
    assert [(x.size, x.uncompressed) for x in image.layers] == [(100, 300), (50, 50)]
    del doc["mediaType"]  # optional in OCI image-spec before 1.0.2
    assert parse_manifest(doc, "oci.json").layers[1].digest == D2


def index(*entries: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": 500,
                "platform": {"os": os_, "architecture": arch},
            }
            for digest, os_, arch in entries
        ],
    }


def test_index_picks_linux_amd64_from_an_oci_layout(tmp_path: Path) -> None:
    idx = index((D1, "linux", "arm64"), (D2, "linux", "amd64"), (D3, "windows", "amd64"))
    path = write(tmp_path, "index.json", idx)
    blobs = tmp_path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (blobs / ("1" * 64)).write_text(json.dumps(docker_manifest((D3, 9))))
    (blobs / ("2" * 64)).write_text(json.dumps(docker_manifest((D1, 5), (D3, 7))))
    image = load_manifest(path, ref="multi:1")
    assert image.ref == "multi:1"
    assert image.digest == D2
    assert [(x.digest, x.size) for x in image.layers] == [(D1, 5), (D3, 7)]


def test_manifest_list_picks_linux_amd64_from_a_sibling_file(tmp_path: Path) -> None:
    idx = index((D1, "linux", "amd64"))
    idx["mediaType"] = "application/vnd.docker.distribution.manifest.list.v2+json"
    path = write(tmp_path, "list.json", idx)
    write(tmp_path, "1" * 64 + ".json", docker_manifest((D2, 42)))
    assert [x.size for x in load_manifest(path).layers] == [42]


def test_index_without_linux_amd64_names_the_platforms(tmp_path: Path) -> None:
    path = write(tmp_path, "index.json", index((D1, "linux", "arm64"), (D2, "windows", "amd64")))
    with pytest.raises(ConfigError) as info:
        load_manifest(path)
    assert str(path) in str(info.value)
    assert "no linux/amd64 manifest" in str(info.value)
    assert "linux/arm64, windows/amd64" in str(info.value)


def test_index_whose_amd64_manifest_is_missing(tmp_path: Path) -> None:
    path = write(tmp_path, "index.json", index((D1, "linux", "amd64")))
    with pytest.raises(ConfigError, match=r"index\.json: the linux/amd64 manifest sha256:1+ is"):
        load_manifest(path)


BAD: dict[str, tuple[Any, str]] = {
    "not JSON": ("{ this is not json", "not JSON"),
    "not an object": ("[1, 2]", "a manifest is a JSON object"),
    "no layers": (docker_manifest(), "no layers"),
    "layers missing": ({"schemaVersion": 2, "mediaType": GZIP[:0]}, "no layers"),
    "negative size": (docker_manifest((D1, -5)), "layers[0].size: negative size -5"),
    "size not a number": (docker_manifest((D1, "12MB")), "layers[0].size: expected a whole"),  # type: ignore[arg-type]
    "bad digest": (docker_manifest((D1, 1), ("sha256:xyz", 2)), "layers[1].digest: bad digest"),
    "short digest": (docker_manifest(("sha256:" + "a" * 63, 1)), "needs 64 lowercase hex"),
    "schema 1": ({"schemaVersion": 1, "fsLayers": []}, "schema 1 manifests are not supported"),
    "other media type": (
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.config.v1+json"},
        "unsupported mediaType",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_manifest_fails_naming_the_file(tmp_path: Path, case: str) -> None:
    doc, words = BAD[case]
    path = write(tmp_path, "bad-manifest.json", doc)
    with pytest.raises(ConfigError) as info:
        load_manifest(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert words in message, message
    assert "\n" not in message


def test_unreadable_manifest_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.json: cannot read manifest"):
        load_manifest(tmp_path / "nope.json")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match=r"binary\.json: not JSON"):
        load_manifest(binary)


# -- inline images in YAML -----------------------------------------------------------------------


def settings(images: dict[str, Any], **extra: Any) -> ImageSettings:
    return ImageSettings.model_validate({"images": images, **extra})


def test_from_style_image_adds_layers_on_a_base() -> None:
    s = settings(
        {
            "nginx-ubuntu:1": {"base": "ubuntu:jammy", "layers": ["20MB"]},
            "webapp:v1": {
                "base": "nginx-ubuntu:1",
                "layers": [{"size": "2MB", "id": "src-v1", "uncompressed": "3MB"}],
            },
            "webapp:v2": {"base": "nginx-ubuntu:1", "layers": [{"size": "2MB", "id": "src-v2"}]},
        }
    )
    cat = s.image_catalog()
    ubuntu = BUILTIN["ubuntu:jammy-20221130"].layers
    v1, v2 = cat["webapp:v1"], cat["webapp:v2"]
    assert v1.layers[:1] == ubuntu
    assert [x.size for x in v1.layers] == [30428708, 20_000_000, 2_000_000]
    assert v1.layers[2].uncompressed == 3_000_000
    assert v1.layers[1].uncompressed == 54_000_000  # 2.7× by default
    # v2 changes only its source layer: the first two layers are the same content.
    assert v1.layers[:2] == v2.layers[:2]
    assert v1.layers[2].digest != v2.layers[2].digest
    # Built-in images stay available next to the inline ones.
    assert "nginx:1.23.3" in cat


def test_inline_layers_with_the_same_id_are_the_same_content() -> None:
    s = settings(
        {
            "a:1": {"layers": [{"size": "5MB", "id": "shared"}, "1MB"]},
            "b:1": {"layers": [{"size": "5MB", "id": "shared"}, "1MB"]},
        }
    )
    a, b = s.image_catalog()["a:1"], s.image_catalog()["b:1"]
    assert a.layers[0].digest == b.layers[0].digest
    assert a.layers[1].digest != b.layers[1].digest  # made up from image and position


def test_compression_ratio_applies_to_builtin_and_inline_images() -> None:
    s = settings({"a:1": {"layers": ["10MB"]}}, compression_ratio=2.0)
    cat = s.image_catalog()
    assert cat["a:1"].layers[0].uncompressed == 20_000_000
    assert cat["alpine:3.17.1"].layers[0].uncompressed == 2 * 3370628


def test_manifest_file_is_read_relative_to_the_experiment(tmp_path: Path) -> None:
    write(tmp_path, "app.json", docker_manifest((D1, 1000), (D2, 10), media=OCI_TAR))
    exp = experiment({"images": {"app:1": {"manifest": "app.json"}}, "image": "app:1"})
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp))
    loaded = simulator.load_experiment(path)
    cfg = loaded.scenarios[0].platform
    assert isinstance(cfg, ContainerConfig)
    image = cfg.image_catalog()["app:1"]
    assert [(x.digest, x.size, x.uncompressed) for x in image.layers] == [
        (D1, 1000, 1000),
        (D2, 10, 10),
    ]
    # The layers are embedded in the resolved config, which reloads to the same thing.
    dumped = loaded.model_dump(mode="json", exclude_none=True)
    assert "manifest" not in dumped["scenarios"][0]["platform"]["images"]["app:1"]
    assert simulator.load_experiment(dumped) == loaded


def experiment(platform: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "images",
        "seed": 1,
        "horizon": "60s",
        "workload": {
            "arrivals": {"kind": "constant", "rate": "1/s"},
            "service_time": {"kind": "fixed", "value": "10ms"},
        },
        "scenarios": [{"name": "k", "platform": {"kind": "container", **platform}}],
    }


def problems(doc: dict[str, Any]) -> str:
    with pytest.raises(InputError) as info:
        simulator.load_experiment(doc)
    return "\n".join(info.value.problems)


@pytest.mark.parametrize(
    ("platform", "where", "words"),
    [
        ({"image": "nginx:9.9"}, "image", "not a known image"),
        ({"images": {"a:1": {}}}, "images.a:1", "needs layers, a base, or a manifest"),
        ({"images": {"a:1": {"base": "nope:1"}}}, "images.a:1.base", "unknown base image"),
        (
            {"images": {"a:1": {"base": "b:1"}, "b:1": {"base": "a:1"}}},
            "images.b:1.base",
            "images build on each other",
        ),
        (
            {"images": {"a:1": {"layers": [{"size": "1MB", "digest": "md5:zz"}]}}},
            "images.a:1.layers[0].digest",
            "bad digest",
        ),
        ({"images": {"a:1": {"layers": ["-1MB"]}}}, "images.a:1.layers[0].size", "negative"),
        (
            {"images": {"a:1": {"manifest": "x.json", "layers": ["1MB"]}}},
            "images.a:1",
            "either manifest or base/layers",
        ),
        ({"registry": {"bandwidth": "0Gbps"}}, "registry.bandwidth", "greater than 0"),
        (
            {"registry": {"outages": [{"start": "10m", "end": "5m"}]}},
            "registry.outages[0]",
            "must be after start",
        ),
        ({"image_gc": {"high": "70%", "low": "80%"}}, "image_gc.low", "above high"),
        ({"pull_policy": "Sometimes"}, "pull_policy", "IfNotPresent"),
        ({"max_concurrent_downloads": 0}, "max_concurrent_downloads", "greater than or equal"),
        ({"compression_ratio": 0.5}, "compression_ratio", "greater than or equal to 1"),
    ],
)
def test_bad_image_config_names_the_field(platform: dict[str, Any], where: str, words: str) -> None:
    text = problems(experiment(platform))
    assert f"scenarios[0].platform.{where}: " in text, text
    assert words in text, text


def test_a_fixed_pull_time_needs_no_known_image() -> None:
    simulator.load_experiment(experiment({"image": "myorg/app:7", "image_pull": "5s"}))


def test_bad_manifest_in_an_experiment_names_file_and_field(tmp_path: Path) -> None:
    write(tmp_path, "broken.json", docker_manifest((D1, -1)))
    exp = experiment({"images": {"app:1": {"manifest": "broken.json"}}, "image": "app:1"})
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp))
    with pytest.raises(InputError) as info:
        simulator.load_experiment(path)
    (line,) = info.value.problems
    assert "scenarios[0].platform.images.app:1" in line
    assert f"{tmp_path / 'broken.json'}: layers[0].size: negative size -1" in line


def test_bad_manifest_through_the_cli_is_exit_2(tmp_path: Path) -> None:
    write(tmp_path, "broken.json", "{not json")
    exp = experiment({"images": {"app:1": {"manifest": "broken.json"}}, "image": "app:1"})
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(exp))
    proc = subprocess.run(
        [sys.executable, "-m", "simulator", "validate", "exp.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "broken.json: not JSON" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_catalog_mapping_compares_by_content() -> None:
    assert Catalog(dict(BUILTIN.items())) == BUILTIN
    assert BUILTIN.rescaled(2.7) is BUILTIN
