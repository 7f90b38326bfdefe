"""C2PA Content Credentials made offline with a test CA: AI claims, ingredients, tampering, trust."""

from __future__ import annotations

import datetime
import io

import pytest
from PIL import Image

from artifact.provenance import apply_policy, collect_evidence

c2pa = pytest.importorskip("c2pa", reason="c2pa-python is not installed")
x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ArtiFact tests")])  # fmt: skip


def _usage(ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                         encipher_only=False, decipher_only=False)  # fmt: skip


@pytest.fixture(scope="module")
def pki():
    """A test CA and a leaf certificate it issued (C2PA refuses self-signed leaves)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def builder(subject, issuer, key):
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))  # fmt: skip

    ca = (builder(_name("ArtiFact Test CA"), _name("ArtiFact Test CA"), ca_key)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(_usage(ca=True), critical=True).sign(ca_key, hashes.SHA256()))  # fmt: skip
    leaf = (builder(_name("ArtiFact Test Signer"), ca.subject, leaf_key)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))  # fmt: skip
    pem = serialization.Encoding.PEM
    key = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {
        "chain": leaf.public_bytes(pem) + ca.public_bytes(pem),
        "key": key,
        "ca": ca.public_bytes(pem).decode(),
    }


def jpeg(colour=(200, 100, 50)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 96), colour).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def sign(
    pki, source: bytes, source_type: str | None, generator: str, ingredient: bytes | None = None
) -> bytes:
    action: dict = {"action": "c2pa.created"}
    if ingredient is not None:  # an edit of an AI image, as ChatGPT files are
        action = {"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}}
    if source_type:
        action["digitalSourceType"] = source_type
    manifest = {"claim_generator_info": [{"name": generator, "version": "1.0"}], "title": "work.jpg",
                "assertions": [{"label": "c2pa.actions", "data": {"actions": [action]}}]}  # fmt: skip
    builder = c2pa.Builder(manifest)
    if ingredient is not None:
        builder.add_ingredient(
            {"title": "generated.jpg", "relationship": "parentOf", "label": "parent"},
            "image/jpeg",
            io.BytesIO(ingredient),
        )
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", pki["chain"], pki["key"], None))
    out = io.BytesIO()
    builder.sign(signer, "image/jpeg", io.BytesIO(source), out)
    return out.getvalue()


def c2pa_items(data: bytes, anchors: str | None = None):
    return [e for e in collect_evidence(data, anchors) if e.kind == "c2pa"]


def test_ai_claim_is_strong_even_from_an_untrusted_signer(pki):
    signed = sign(pki, jpeg(), AI, "Test Image Generator")
    (evidence,) = c2pa_items(signed)
    assert (evidence.strength, evidence.points_to) == ("strong", "ai")
    assert evidence.details["claim_generator"] == "Test Image Generator 1.0"
    assert evidence.details["trusted_signer"] is False and not evidence.details["altered_after_signing"]
    assert apply_policy("human", [evidence]).verdict == "ai"


def test_ai_claim_inside_an_ingredient_manifest_is_found(pki):
    generated = sign(pki, jpeg(), AI, "Test Image Generator")
    edited = sign(pki, jpeg((90, 90, 200)), None, "Test Photo Editor", ingredient=generated)
    items = c2pa_items(edited)
    assert [e.details["role"] for e in items] == ["ingredient manifest"]
    assert items[0].details["claim_generator"] == "Test Image Generator 1.0"


def test_tampered_pixels_are_reported_as_altered(pki):
    signed = bytearray(sign(pki, jpeg(), AI, "Test Image Generator"))
    signed[-300] ^= 0xFF  # inside the entropy-coded image data, after the manifest
    signed[-200] ^= 0xFF
    (evidence,) = c2pa_items(bytes(signed))
    assert evidence.details["altered_after_signing"] is True
    assert "assertion.dataHash.mismatch" in evidence.details["failure_codes"]
    assert "altered after signing" in evidence.summary


def test_capture_claim_counts_only_with_the_operators_trust_anchor(pki):
    signed = sign(pki, jpeg(), CAPTURE, "Test Camera")
    assert c2pa_items(signed) == []
    (evidence,) = c2pa_items(signed, anchors=pki["ca"])
    assert (evidence.strength, evidence.points_to) == ("moderate", "human")
    assert evidence.details["trusted_signer"] is True


def test_resaving_drops_the_manifest_and_clean_files_are_silent(pki):
    signed = sign(pki, jpeg(), AI, "Test Image Generator")
    buffer = io.BytesIO()
    Image.open(io.BytesIO(signed)).save(buffer, "JPEG")
    assert c2pa_items(buffer.getvalue()) == []
    assert c2pa_items(jpeg()) == []
    assert c2pa_items(b"c2pa but not an image") == []


def test_a_remote_manifest_is_never_fetched(pki):
    """A file whose manifest lives at a URL (set_remote_url + no embed): reading it makes no
    request. The URL is a loopback server that counts what reaches it."""
    import http.server
    import threading

    hits: list[str] = []

    class Counting(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        manifest = {"claim_generator_info": [{"name": "Remote Generator", "version": "1.0"}],
                    "assertions": [{"label": "c2pa.actions", "data": {"actions": [
                        {"action": "c2pa.created", "digitalSourceType": AI}]}}]}  # fmt: skip
        builder = c2pa.Builder(manifest)
        builder.set_no_embed()
        builder.set_remote_url(f"http://127.0.0.1:{server.server_port}/manifest.c2pa")
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", pki["chain"], pki["key"], None))
        out = io.BytesIO()
        builder.sign(signer, "image/jpeg", io.BytesIO(jpeg()), out)
        evidence = collect_evidence(out.getvalue())
        assert hits == [], f"the reader fetched {hits}"
        # Nothing embedded and nothing fetched: no C2PA claim is made up either.
        assert [e for e in evidence if e.kind == "c2pa" and e.points_to == "ai"] == []
    finally:
        server.shutdown()
