"""Independent exact-rational oracle for the polyhedral complex of a small ReLU MLP on a box.

Standard library only (fractions, itertools); brute force everywhere, meant for tiny nets
(d <= 4, about 10 hidden neurons in total).  Contract, implemented literally:

* Network: weights = [W1..WL], biases = [b1..bL]; W1 is n1 x d; hidden layers use ReLU,
  the last layer is affine.  Domain: the box {x : lo_i <= x_i <= hi_i}, lo < hi.
* For an activation pattern sigma (one bit per hidden neuron) the pre-activation z_i(x) of
  every hidden neuron is the affine function obtained by forward propagation with ReLU
  replaced by the fixed 0/1 mask sigma in earlier layers.
  C_sigma = {x in box : z_i(x) >= 0 where sigma_i = 1, z_i(x) <= 0 where sigma_i = 0}.
  Vertices of a polytope given by constraints a.x + b >= 0 are found by solving every d x d
  subsystem exactly and keeping the feasible solutions; the polytope is full-dimensional iff
  its vertices affinely span R^d.
* regions: number of distinct full-dimensional C_sigma, compared as point sets (by vertex
  sets).  Patterns are enumerated layer by layer, neuron by neuron, extending only patterns
  whose partial polytope is full-dimensional.
* Each region has an exact affine output map x -> A x + c.  Two regions are adjacent when
  the vertices of their intersection (brute force on the union of both constraint sets)
  affinely span a (d-1)-dimensional set.
* pieces: connected components of the graph on regions whose edges join adjacent regions
  with identical (A, c).
* faces of a region P: for each subset of P's constraints tight somewhere on P, the set of
  points of P where all of them are tight, represented by its vertex set (frozenset of
  tuples of Fractions); its dimension is the affine dimension of those vertices.  Faces of
  all regions are pooled into one set (a shared face counts once).
* vertices / edges: the distinct 0- / 1-dimensional faces; f_vector = [f_0, ..., f_d]
  (f_d = regions).

API: box_complex(weights, biases, lo, hi) -> {"regions", "pieces", "vertices", "edges",
"f_vector"}.  Run this file directly for a self-check.
"""

import random
import time
from fractions import Fraction
from itertools import combinations


def _solve(rows, rhs):
    """Exact solution of the square system rows . x = rhs, or None if it is singular."""
    n = len(rows)
    M = [[*list(r), v] for r, v in zip(rows, rhs, strict=False)]
    for col in range(n):
        piv = next((r for r in range(col, n) if M[r][col] != 0), None)
        if piv is None:
            return None
        M[col], M[piv] = M[piv], M[col]
        p = M[col][col]
        M[col] = [v / p for v in M[col]]
        for r in range(n):
            if r != col and M[r][col] != 0:
                f = M[r][col]
                M[r] = [a - f * b for a, b in zip(M[r], M[col], strict=False)]
    return tuple(M[r][n] for r in range(n))


def _rank(vectors):
    M = [list(v) for v in vectors]
    rank, ncols = 0, (len(M[0]) if M else 0)
    for col in range(ncols):
        piv = next((r for r in range(rank, len(M)) if M[r][col] != 0), None)
        if piv is None:
            continue
        M[rank], M[piv] = M[piv], M[rank]
        for r in range(len(M)):
            if r != rank and M[r][col] != 0:
                f = M[r][col] / M[rank][col]
                M[r] = [a - f * b for a, b in zip(M[r], M[rank], strict=False)]
        rank += 1
    return rank


def affine_dim(points):
    """Affine dimension of a finite point set (-1 for the empty set)."""
    pts = list(points)
    if not pts:
        return -1
    p0 = pts[0]
    return _rank([[a - b for a, b in zip(p, p0, strict=False)] for p in pts[1:]])


def _val(con, x):
    a, b = con
    return sum(ai * xi for ai, xi in zip(a, x, strict=False)) + b


def polytope_vertices(cons, d):
    """Vertices of {x : a.x + b >= 0 for (a, b) in cons} by brute force over d-subsets."""
    cons = list(dict.fromkeys(cons))  # drop exact duplicates (same set, fewer subsets)
    verts = set()
    for sub in combinations(cons, d):
        x = _solve([a for a, _ in sub], [-b for _, b in sub])
        if x is not None and all(_val(c, x) >= 0 for c in cons):
            verts.add(x)
    return frozenset(verts)


def _affine(W, b, A, c):
    """Compose x -> W (A x + c) + b, with A given as rows (tuples) of length d."""
    d = len(A[0])
    rows = tuple(tuple(sum(Wi[k] * A[k][j] for k in range(len(A))) for j in range(d)) for Wi in W)
    off = tuple(sum(Wi[k] * c[k] for k in range(len(A))) + bi for Wi, bi in zip(W, b, strict=False))
    return rows, off


def _regions(weights, biases, lo, hi):
    """List of (constraints, vertex set, output map) for the distinct full-dim C_sigma."""
    d = len(lo)
    unit = [tuple(Fraction(int(i == j)) for j in range(d)) for i in range(d)]
    box = [(unit[i], -lo[i]) for i in range(d)] + [
        (tuple(-v for v in unit[i]), hi[i]) for i in range(d)
    ]
    zero = tuple(Fraction(0) for _ in range(d))
    # partial: (constraints, vertices, post-activation affine map (A, c) of the last layer)
    partial = [(box, polytope_vertices(box, d), (tuple(unit), zero))]
    for W, b in zip(weights[:-1], biases[:-1], strict=False):
        nxt = []
        for cons, V, (A, c) in partial:
            ZA, Zc = _affine(W, b, A, c)
            branches = [((), cons, V)]
            for j in range(len(W)):
                new = []
                for bits, cs, _ in branches:
                    for s in (0, 1):
                        sg = 1 if s else -1
                        cs2 = [*cs, (tuple(sg * v for v in ZA[j]), sg * Zc[j])]
                        V2 = polytope_vertices(cs2, d)
                        if affine_dim(V2) == d:
                            new.append(((*bits, s), cs2, V2))
                branches = new
            for bits, cs, V2 in branches:
                HA = tuple(ZA[j] if bits[j] else zero for j in range(len(W)))
                Hc = tuple(Zc[j] if bits[j] else Fraction(0) for j in range(len(W)))
                nxt.append((cs, V2, (HA, Hc)))
        partial = nxt
    regions = {}
    for cons, V, (A, c) in partial:
        out = _affine(weights[-1], biases[-1], A, c)
        if V in regions:
            # same full-dim set => the first differing neuron is identically 0 => same map
            assert regions[V][2] == out, "equal regions with different affine maps"
        else:
            regions[V] = (cons, V, out)
    return list(regions.values())


def _faces(cons, V):
    """All nonempty faces of the polytope (cons, V) as vertex sets (closure of the
    constraint-tight vertex sets under intersection, plus V itself)."""
    atoms = {frozenset(v for v in V if _val(c, v) == 0) for c in cons} - {frozenset()}
    faces, frontier = {V} | atoms, set(atoms)
    while frontier:
        new = {f & a for f in frontier for a in atoms} - faces - {frozenset()}
        faces |= new
        frontier = new
    return faces


def _adjacent(P, Q, d):
    (cP, VP, _), (cQ, VQ, _) = P, Q
    for i in range(d):  # cheap reject: disjoint bounding boxes => empty intersection
        if max(min(v[i] for v in VP), min(v[i] for v in VQ)) > min(
            max(v[i] for v in VP), max(v[i] for v in VQ)
        ):
            return False
    return affine_dim(polytope_vertices(cP + cQ, d)) == d - 1


def box_complex(weights, biases, lo, hi):
    """returns {"regions": int, "pieces": int, "vertices": set of tuple[Fraction,...],
    "edges": set of frozenset({v1, v2}), "f_vector": list[int]}"""
    F = Fraction
    weights = [[[F(v) for v in row] for row in W] for W in weights]
    biases = [[F(v) for v in b] for b in biases]
    lo, hi = [F(v) for v in lo], [F(v) for v in hi]
    d = len(lo)
    assert all(len(row) == d for row in weights[0]) and all(
        low < high for low, high in zip(lo, hi, strict=False)
    )
    regs = _regions(weights, biases, lo, hi)

    parent = list(range(len(regs)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in combinations(range(len(regs)), 2):
        if regs[i][2] == regs[j][2] and find(i) != find(j) and _adjacent(regs[i], regs[j], d):
            parent[find(i)] = find(j)
    pieces = len({find(i) for i in range(len(regs))})

    faces = set()
    for cons, V, _ in regs:
        faces |= _faces(cons, V)
    dims = {f: affine_dim(f) for f in faces}
    f_vector = [sum(1 for f in faces if dims[f] == k) for k in range(d + 1)]
    assert f_vector[d] == len(regs)
    return {
        "regions": len(regs),
        "pieces": pieces,
        "vertices": {next(iter(f)) for f in faces if dims[f] == 0},
        "edges": {f for f in faces if dims[f] == 1},
        "f_vector": f_vector,
    }


def euler(f_vector):
    return sum((-1) ** k * f for k, f in enumerate(f_vector))


def _random_net(rng, sizes, wmax, bmax):
    return (
        [
            [[rng.randint(-wmax, wmax) for _ in range(sizes[i])] for _ in range(sizes[i + 1])]
            for i in range(len(sizes) - 1)
        ],
        [[rng.randint(-bmax, bmax) for _ in range(sizes[i + 1])] for i in range(len(sizes) - 1)],
    )


if __name__ == "__main__":
    t0 = time.perf_counter()
    half = Fraction(1, 2)
    I3 = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    # 1. coordinate hyperplanes in [-1,1]^3
    r1 = box_complex([I3, [[1, 1, 1]]], [[0, 0, 0], [0]], [-1] * 3, [1] * 3)
    assert r1["regions"] == 8 and r1["pieces"] == 8, r1
    assert len(r1["vertices"]) == 27 and len(r1["edges"]) == 54, r1
    assert r1["f_vector"] == [27, 54, 36, 8] and euler(r1["f_vector"]) == 1, r1
    assert all(len(e) == 2 for e in r1["edges"])
    print("1 ok", r1["f_vector"], "pieces", r1["pieces"])
    # 2. / 3. two half-lines in [0,1]^2
    W2 = [[[1, 0], [0, 1]]]
    r2 = box_complex([*W2, [[1, 1]]], [[-half, -half], [0]], [0, 0], [1, 1])
    assert r2["regions"] == 4 and r2["pieces"] == 4 and r2["f_vector"] == [9, 12, 4], r2
    print("2 ok", r2["f_vector"], "pieces", r2["pieces"])
    r3 = box_complex([*W2, [[0, 0]]], [[-half, -half], [0]], [0, 0], [1, 1])
    assert r3["regions"] == 4 and r3["pieces"] == 1 and r3["f_vector"] == [9, 12, 4], r3
    print("3 ok pieces", r3["pieces"])
    # 4. dead neuron, identically-zero neuron, duplicated neuron: counts of example 1 unchanged
    W4 = [*I3, [0, 0, 0], [0, 0, 0], [1, 0, 0], [2, 0, 0]]
    r4 = box_complex(
        [W4, [[1, 1, 1, 5, 7, 0, 0]]], [[0, 0, 0, -1, 0, 0, 0], [0]], [-1] * 3, [1] * 3
    )
    for k in ("regions", "pieces", "vertices", "edges", "f_vector"):
        assert r4[k] == r1[k], (k, r4[k], r1[k])
    print("4 ok", r4["f_vector"])
    # 5. d = 4, one hidden layer of n random neurons through the interior of [-1,1]^4
    rng = random.Random(1234)
    for _trial in range(2):
        n, W = 6, []
        while len(W) < n:
            w = [rng.randint(-3, 3) for _ in range(4)]
            if any(w):
                W.append(w)
        b = [rng.randint(-sum(map(abs, w)) + 1, sum(map(abs, w)) - 1) for w in W]
        out = [[rng.randint(-2, 2) for _ in range(n)]]
        t = time.perf_counter()
        r5 = box_complex([W, out], [b, [0]], [-1] * 4, [1] * 4)
        assert euler(r5["f_vector"]) == 1 and r5["pieces"] <= r5["regions"], r5
        print("5 ok", r5["f_vector"], "pieces", r5["pieces"], f"{time.perf_counter() - t:.1f}s")
    # 6. d = 3, [3, 2, 2, 1] networks with small random integer weights
    for seed in range(8):
        Ws, bs = _random_net(random.Random(seed), [3, 2, 2, 1], 2, 1)
        r6 = box_complex(Ws, bs, [-1] * 3, [1] * 3)
        assert euler(r6["f_vector"]) == 1, (seed, r6)
        print("6 ok seed", seed, r6["f_vector"], "pieces", r6["pieces"])
    print(f"all self-checks passed in {time.perf_counter() - t0:.1f}s")
