#!/usr/bin/python3
"""An auditor's verifier of leerlusd's transparency log, written from the
specifications alone: RFC 9162 (Merkle tree hashes 2.1.1, inclusion proofs
2.1.3, consistency proofs 2.1.4), c2sp.org/signed-note and
c2sp.org/tlog-checkpoint. It mirrors the log over gRPC, recomputes every
leaf and root, and checks the server's receipts, signed checkpoints and
proofs against them.

    verify_log.py STUBS_DIR HOST:PORT TOKEN VERIFIER_KEY
"""
import base64
import hashlib
import re
import sys

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey  # noqa: E402
from leerlus.v1 import (catalog_service_pb2 as catalog, catalog_service_pb2_grpc as catalog_grpc,  # noqa: E402
                        event_log_service_pb2 as log, event_log_service_pb2_grpc as log_grpc,
                        experiment_service_pb2 as exp, experiment_service_pb2_grpc as exp_grpc,
                        resources_pb2 as res)

target, token, vkey_text = sys.argv[2], sys.argv[3], sys.argv[4]
channel = grpc.insecure_channel(target)
metadata = [("authorization", "Bearer " + token)]
catalogue = catalog_grpc.CatalogServiceStub(channel)
experiments = exp_grpc.ExperimentServiceStub(channel)
events = log_grpc.EventLogServiceStub(channel)
checks = 0


def check(condition, what):
    global checks
    if not condition:
        print("FAILED:", what)
        sys.exit(1)
    checks += 1


# ---------------------------------------------------------------------------
# RFC 9162 2.1.1: the Merkle Tree Hash over leaf hashes.

def sha256(data):
    return hashlib.sha256(data).digest()


def leaf_hash(entry):
    """RFC 9162 2.1.1: MTH({d(0)}) = HASH(0x00 || d(0))."""
    return sha256(b"\x00" + entry)


def node_hash(left, right):
    """RFC 9162 2.1.1: HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))."""
    return sha256(b"\x01" + left + right)


def split_point(n):
    """RFC 9162 2.1.1: k, the largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves):
    """RFC 9162 2.1.1: the root of the tree over these leaf hashes."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = split_point(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


# ---------------------------------------------------------------------------
# RFC 9162 2.1.3.1 and 2.1.4.1: the proofs a log must answer, computed from
# the mirror, so the server's proofs can be compared hash for hash.

def inclusion_path(m, leaves):
    """RFC 9162 2.1.3.1: PATH(m, D[n])."""
    if len(leaves) <= 1:
        return []
    k = split_point(len(leaves))
    if m < k:
        return inclusion_path(m, leaves[:k]) + [mth(leaves[k:])]
    return inclusion_path(m - k, leaves[k:]) + [mth(leaves[:k])]


def consistency_path(m, leaves, whole=True):
    """RFC 9162 2.1.4.1: SUBPROOF(m, D[n], b); PROOF(m, D[n]) has b = true."""
    n = len(leaves)
    if m == n:
        return [] if whole else [mth(leaves)]
    k = split_point(n)
    if m <= k:
        return consistency_path(m, leaves[:k], whole) + [mth(leaves[k:])]
    return consistency_path(m - k, leaves[k:], False) + [mth(leaves[:k])]


# ---------------------------------------------------------------------------
# RFC 9162 2.1.3.2 and 2.1.4.2: verifying proofs against signed roots.

def shift_until_lsb_or_zero(fn, sn):
    """Right-shifts fn and sn equally until LSB(fn) is set or fn is 0."""
    while fn & 1 == 0 and fn != 0:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def verify_inclusion(leaf_index, tree_size, leaf, path, root):
    """RFC 9162 2.1.3.2: does `path` prove `leaf` at leaf_index under root?"""
    if leaf_index >= tree_size:                              # step 1
        return False
    fn, sn = leaf_index, tree_size - 1                       # step 2
    r = leaf                                                 # step 3
    for p in path:                                           # step 4
        if sn == 0:                                          # 4a
            return False
        if fn & 1 or fn == sn:                               # 4b
            r = node_hash(p, r)
            if not fn & 1:
                fn, sn = shift_until_lsb_or_zero(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1                            # 4c
    return sn == 0 and r == root                             # step 5


def verify_consistency(first, second, path, first_hash, second_hash):
    """RFC 9162 2.1.4.2: does `path` prove tree `first` a prefix of `second`?

    2.1.4.1 defines the proof between equal sizes as empty (SUBPROOF(m,
    D[m], true) = {}); it holds when the two roots are equal.
    """
    if first < 1 or first > second:
        return False
    if first == second:
        return not path and first_hash == second_hash
    if not path:                                             # step 1
        return False
    if first & (first - 1) == 0:                             # step 2
        path = [first_hash] + list(path)
    fn, sn = first - 1, second - 1                           # step 3
    while fn & 1:                                            # step 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]                                        # step 5
    for c in path[1:]:                                       # step 6
        if sn == 0:                                          # 6a
            return False
        if fn & 1 or fn == sn:                               # 6b
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                fn, sn = shift_until_lsb_or_zero(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1                            # 6c
    return fr == first_hash and sr == second_hash and sn == 0  # step 7


# ---------------------------------------------------------------------------
# c2sp.org/signed-note and c2sp.org/tlog-checkpoint.

class VerifierKey:
    """A vkey: `<name>+<hex key id>+<base64(0x01 || Ed25519 public key)>`."""

    def __init__(self, text):
        self.name, key_id, material = text.split("+", 2)  # base64 may hold '+'
        raw = base64.b64decode(material, validate=True)
        if not self.name or re.search(r"\s", self.name) or len(raw) != 33 or raw[0] != 0x01:
            raise ValueError("not an Ed25519 verifier key: " + text)
        if not re.fullmatch(r"[0-9a-f]{8}", key_id):
            raise ValueError("the key id is not 8 lowercase hex digits: " + key_id)
        self.id = bytes.fromhex(key_id)
        self.key = raw[1:]
        self.public = Ed25519PublicKey.from_public_bytes(self.key)

    def expected_id(self):
        """signed-note: SHA-256(key name || 0x0A || 0x01 || public key)[:4]."""
        return sha256(self.name.encode() + b"\n\x01" + self.key)[:4]


def verify_note(note, key):
    """signed-note: the note's text if `key` signed it, else None.

    The text runs to the last blank line; each signature line is
    `— <name> <base64(4-byte key id || signature)>`. Signatures of other
    keys are ignored; one of `key` that fails rejects the whole note.
    """
    if any(c < " " and c != "\n" for c in note):
        return None
    blank = note.rfind("\n\n")
    if blank < 0 or not note.endswith("\n"):
        return None
    text, signatures = note[:blank + 1], note[blank + 2:-1].split("\n")
    verified = False
    for line in signatures:
        match = re.fullmatch(r"\u2014 (\S+) ([A-Za-z0-9+/=]+)", line)
        if not match:
            return None
        signature = base64.b64decode(match.group(2), validate=True)
        if match.group(1) != key.name or signature[:4] != key.id:
            continue
        try:
            key.public.verify(signature[4:], text.encode())
        except InvalidSignature:
            return None
        verified = True
    return text if verified else None


def parse_checkpoint(text):
    """tlog-checkpoint: (origin, tree size, root hash) of a note's text."""
    lines = text.split("\n")[:-1]
    if len(lines) < 3 or not all(lines) or not re.fullmatch(r"0|[1-9][0-9]*", lines[1]):
        return None
    root = base64.b64decode(lines[2], validate=True)
    return (lines[0], int(lines[1]), root) if len(root) == 32 else None


def verified_checkpoint(checkpoint, key, what):
    """Verifies a Checkpoint message; returns its (tree size, root hash)."""
    text = verify_note(checkpoint.signed_note, key)
    check(text is not None, what + ": the note's signature verifies")
    parsed = parse_checkpoint(text)
    check(parsed is not None, what + ": the note is a tlog-checkpoint")
    origin, size, root = parsed
    check(origin == key.name, what + ": the origin is the log's key name")
    check((checkpoint.origin, checkpoint.tree_size, checkpoint.root_hash) == parsed,
          what + ": the message's fields repeat the signed text")
    return size, root


# ---------------------------------------------------------------------------
# The log over gRPC.

def write_batch(tag, area_code, count):
    """An area and `count` experiments, each with a hypothesis, a start and
    two outcomes; returns each write's receipt."""
    receipts = []

    def keep(response):
        receipts.append(response.receipt)

    outcome = res.TwoGroupContinuous(treatment_mean=4.1, treatment_sd=1.2, treatment_n=40,
                                     control_mean=4.8, control_sd=1.3, control_n=38)
    keep(catalogue.PutArea(catalog.PutAreaRequest(
        area=res.Area(code=area_code, display_name="Area " + tag,
                      attributes={"inhabitants": res.AttributeValue(number_value=12000),
                                  "rural": res.AttributeValue(bool_value=True),
                                  "region": res.AttributeValue(text_value="oost")}),
        request_id=tag + "-area"), metadata=metadata))
    for i in range(count):
        eid = "%s-%d" % (tag, i)
        keep(experiments.CreateExperiment(exp.CreateExperimentRequest(
            experiment=res.Experiment(id=eid, kind=res.EXPERIMENT_KIND_PROJECT, title="Verify " + eid,
                                      work_method_id="coach", line=res.LINE_AREA_BASED, team_id="t"),
            request_id=eid + "-create"), metadata=metadata))
        keep(experiments.CreateHypothesis(exp.CreateHypothesisRequest(
            experiment_id=eid, request_id=eid + "-hyp",
            hypothesis=res.Hypothesis(statement="Less lonely", indicator_id="loneliness",
                                      expected_direction=res.EXPECTED_DIRECTION_DECREASE)),
            metadata=metadata))
        keep(experiments.StartExperiment(exp.StartExperimentRequest(id=eid, request_id=eid + "-start"),
                                         metadata=metadata))
        for j in range(2):
            keep(experiments.CreateOutcome(exp.CreateOutcomeRequest(
                experiment_id=eid, request_id="%s-outcome-%d" % (eid, j),
                outcome=res.Outcome(indicator_id="loneliness", measured_on="2019-06-0%d" % (j + 1),
                                    design=res.STUDY_DESIGN_RCT, two_group_continuous=outcome)),
                metadata=metadata))
    return receipts


def define_catalogue():
    """The work method and indicator the experiments refer to."""
    return [
        catalogue.CreateWorkMethod(catalog.CreateWorkMethodRequest(
            work_method=res.WorkMethod(id="coach", display_name="Coach"), request_id="v-m"),
            metadata=metadata).receipt,
        catalogue.CreateIndicator(catalog.CreateIndicatorRequest(
            indicator=res.Indicator(id="loneliness", display_name="Loneliness",
                                    better_direction=res.BETTER_DIRECTION_LOWER,
                                    domain=res.RESOURCE_DOMAIN_SOCIAL), request_id="v-i"),
            metadata=metadata).receipt,
    ]


def mirror_leaves():
    """The whole log as stored, page by page: (leaf hashes, head position)."""
    leaves, position, head = [], 1, None
    while True:
        page = events.ReadEvents(log.ReadEventsRequest(from_position=position, page_size=7,
                                                       as_stored=True), metadata=metadata)
        for event in page.events:
            check(event.position == len(leaves) + 1, "the log is gap-free at %d" % event.position)
            leaves.append(leaf_hash(event.SerializeToString(deterministic=True)))
        head, position = page.head_position, page.next_position
        if position > head:
            return leaves, head


def checkpoint_at_least(size, key, what):
    """GetCheckpoint(min_tree_size = size), verified: ((tree size, root
    hash), the signed note)."""
    answer = events.GetCheckpoint(log.GetCheckpointRequest(min_tree_size=size), metadata=metadata)
    check(answer.verifier_key == vkey_text, what + ": the server names the pinned key")
    return verified_checkpoint(answer.checkpoint, key, what), answer.checkpoint.signed_note


def code_of(call, request):
    """The status code a call ends with."""
    try:
        call(request, metadata=metadata)
        return grpc.StatusCode.OK
    except grpc.RpcError as error:
        return error.code()


# ---------------------------------------------------------------------------
# The checks.

def check_receipts(receipts, leaves, key):
    """Each receipt names the leaf the mirror computes at its position; a
    checkpoint it carries is signed and its root is the mirror's."""
    for receipt in receipts:
        at = receipt.position
        check(1 <= at <= len(leaves) and receipt.leaf_hash == leaves[at - 1],
              "the receipt's leaf hash at %d is the mirror's" % at)
        if receipt.HasField("checkpoint"):
            size, root = verified_checkpoint(receipt.checkpoint, key, "receipt %d" % at)
            check(size <= len(leaves) and root == mth(leaves[:size]),
                  "receipt %d: its checkpoint's root is the mirror's at size %d" % (at, size))


def check_inclusion(leaves, size, root):
    """RFC 9162 2.1.3: every leaf's proof in the signed tree."""
    for position in range(1, size + 1):
        proof = events.GetInclusionProof(log.GetInclusionProofRequest(position=position, tree_size=size),
                                         metadata=metadata)
        what = "inclusion of %d in %d" % (position, size)
        check(proof.leaf_hash == leaves[position - 1], what + ": the mirror's leaf hash")
        check(verify_inclusion(position - 1, size, proof.leaf_hash, list(proof.hashes), root),
              what + ": verifies against the signed root")
        check(list(proof.hashes) == inclusion_path(position - 1, leaves[:size]),
              what + ": is RFC 9162's PATH")


def check_consistency(leaves, old, new):
    """RFC 9162 2.1.4: the signed old tree is a prefix of the signed new one,
    and every size 1..n is a prefix of n (roots from the mirror)."""
    (old_size, old_root), (new_size, new_root) = old, new
    proof = events.GetConsistencyProof(log.GetConsistencyProofRequest(
        from_tree_size=old_size, to_tree_size=new_size), metadata=metadata)
    check(verify_consistency(old_size, new_size, list(proof.hashes), old_root, new_root),
          "consistency %d -> %d verifies between the two signed roots" % (old_size, new_size))
    for m in range(1, new_size + 1):
        proof = events.GetConsistencyProof(log.GetConsistencyProofRequest(
            from_tree_size=m, to_tree_size=new_size), metadata=metadata)
        what = "consistency %d -> %d" % (m, new_size)
        check(verify_consistency(m, new_size, list(proof.hashes), mth(leaves[:m]), new_root),
              what + ": verifies against the mirror's root and the signed one")
        check(list(proof.hashes) == consistency_path(m, leaves[:new_size]),
              what + ": is RFC 9162's PROOF")


def flip(hashes, index):
    """The proof with one byte of one hash flipped."""
    changed = list(hashes)
    changed[index] = bytes([changed[index][0] ^ 0x01]) + changed[index][1:]
    return changed


def check_refusals(leaves, old, new, note, key):
    """Tampered proofs and notes fail to verify; impossible proofs are refused."""
    (old_size, old_root), (new_size, new_root) = old, new
    position = new_size // 2
    proof = events.GetInclusionProof(log.GetInclusionProofRequest(position=position, tree_size=new_size),
                                     metadata=metadata)
    for i in range(len(proof.hashes)):
        check(not verify_inclusion(position - 1, new_size, proof.leaf_hash, flip(proof.hashes, i), new_root),
              "an inclusion proof with hash %d flipped fails" % i)
    check(not verify_inclusion(position, new_size, proof.leaf_hash, list(proof.hashes), new_root),
          "an inclusion proof for another index fails")
    consistency = events.GetConsistencyProof(log.GetConsistencyProofRequest(
        from_tree_size=old_size, to_tree_size=new_size), metadata=metadata)
    for i in range(len(consistency.hashes)):
        check(not verify_consistency(old_size, new_size, flip(consistency.hashes, i), old_root, new_root),
              "a consistency proof with hash %d flipped fails" % i)
    check(not verify_consistency(old_size, new_size, list(consistency.hashes), mth(leaves[:old_size - 1]),
                                 new_root), "a consistency proof from another root fails")

    lines = note.split("\n")
    lines[1] = str(int(lines[1]) + 1)
    check(verify_note("\n".join(lines), key) is None, "a note with its size changed fails")
    stranger = note.replace("\u2014 " + key.name + " ", "\u2014 example.com/other ")
    check(verify_note(stranger, key) is None, "a note signed by no known key is rejected")

    beyond = log.GetInclusionProofRequest(position=1, tree_size=len(leaves) + 1)
    check(code_of(events.GetInclusionProof, beyond) == grpc.StatusCode.OUT_OF_RANGE,
          "an inclusion proof beyond the head: OUT_OF_RANGE")
    zero = log.GetInclusionProofRequest(position=0, tree_size=new_size)
    check(code_of(events.GetInclusionProof, zero) == grpc.StatusCode.INVALID_ARGUMENT,
          "an inclusion proof for position 0: INVALID_ARGUMENT")
    ahead = log.GetCheckpointRequest(min_tree_size=len(leaves) + 1)
    check(code_of(events.GetCheckpoint, ahead) == grpc.StatusCode.OUT_OF_RANGE,
          "a checkpoint beyond the head: OUT_OF_RANGE")


def main():
    key = VerifierKey(vkey_text)
    check(key.id == key.expected_id(), "the key id is SHA-256(name || 0x0A || 0x01 || key)[:4]")

    receipts = define_catalogue() + write_batch("first", "GM0101", 3)
    leaves, head = mirror_leaves()
    old, _ = checkpoint_at_least(head, key, "first checkpoint")
    check(old[0] == head == len(leaves), "the first checkpoint covers the head")
    check(old[1] == mth(leaves), "the first checkpoint's root is the mirror's")
    check_receipts(receipts, leaves, key)
    check_inclusion(leaves, *old)

    receipts = write_batch("second", "GM0102", 2)
    more, head = mirror_leaves()
    check(more[:len(leaves)] == leaves, "the log only grew")
    new, note = checkpoint_at_least(head, key, "second checkpoint")
    check(new[0] == head and new[1] == mth(more), "the second checkpoint's root is the mirror's")
    check_receipts(receipts, more, key)
    check_inclusion(more, *new)
    check_consistency(more, old, new)
    latest, _ = checkpoint_at_least(0, key, "latest checkpoint")
    check(latest[0] <= head and latest[1] == mth(more[:latest[0]]),
          "the latest checkpoint's root is the mirror's at its size")
    check_refusals(more, old, new, note, key)
    print("%d passed, 0 failed" % checks)


main()
