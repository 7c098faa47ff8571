#!/usr/bin/env python3
"""Writes training-data/generated-hard.jsonl: a hard pool *inside* each domain, generated from templates.

The public hard pool is benchmark-shaped: long competition problems (MATH level 5, CRUXEval) and Arena-Hard
prompts. A ranker fitted against it learns "long = hard" and files a terse hard request ("Implement Raft in
Go.") with the everyday ones. These rows are requests a cheap model is likely to get wrong where a strong one
does not — research-level proofs, systems programming, multi-constraint puzzles, expert explanations,
tightly constrained writing, plans with many interacting constraints — written terse as often as wordy, so
that length alone cannot tell them from the easy pool (generated-easy.jsonl carries chatty easy questions for
the same reason).

No level and no outcomes: `source` "generated-hard" puts the rows in the hard pool of the difficulty fit
(training/difficulty.rs), which pairs them with easy-pool rows of the same domain as well as across domains.

Kept apart from the probe set: written separately from it, and any generated prompt equal or close (a word
overlap of 60% or more, pool_common.py) to a probe prompt is dropped. Deterministic (seeded); rerun to regenerate: scripts/make-hard-pool.py
"""
import random
from pathlib import Path

from pool_common import ProbeGuard, write_jsonl

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "training-data" / "generated-hard.jsonl"
PER_DOMAIN = 220

rng = random.Random(20261204)

# ---------------------------------------------------------------- code
SYSTEMS = [
    "a lock-free skip list", "a wait-free single-producer single-consumer ring buffer", "a concurrent hash map with "
    "lock striping and online resizing", "a work-stealing task scheduler", "an epoch-based memory reclamation scheme",
    "a persistent (immutable) red-black tree", "a B-tree with copy-on-write pages", "an LSM-tree compaction policy",
    "a write-ahead log with group commit and crash recovery", "MVCC snapshot isolation for a key-value store",
    "the Raft leader election and log replication", "Paxos for a replicated state machine",
    "a CRDT for collaborative text editing", "a vector clock based conflict detector", "a consistent-hashing ring "
    "with virtual nodes and rebalancing", "a mark-and-sweep garbage collector with a precise root set",
    "a generational copying garbage collector", "a regular-expression engine with backreferences",
    "an LR(1) parser generator", "a Hindley-Milner type inferencer", "a bytecode virtual machine with a JIT for hot "
    "loops", "an SSA-based constant propagation pass", "a register allocator by linear scan", "a CDCL SAT solver "
    "with watched literals", "a distributed token-bucket rate limiter", "a TCP congestion control algorithm in "
    "user space", "an async runtime with an epoll reactor", "a memory allocator with size classes and thread "
    "caches", "a B+ tree index with latch crabbing", "a query optimizer that reorders joins by cost",
    "an interval tree supporting deletions", "a suffix automaton for substring counting", "a Fenwick tree over a "
    "2D grid with range updates", "a min-cost max-flow solver", "a sparse matrix LU factorization",
    "a Bloom filter with tunable false-positive rate and deletion", "a zero-copy HTTP/2 frame parser",
    "a software transactional memory", "a userspace file system with FUSE and journaling",
]
LANGS = ["Rust", "C++", "C", "Go", "Haskell", "Java", "Zig", "OCaml", "Scala", "Python", "TypeScript", "Erlang"]
CODE_CONSTRAINTS = [
    "without any locks", "with no heap allocation on the hot path", "and prove it linearizable",
    "that survives a crash at any instruction", "with O(log n) worst-case operations", "and argue its "
    "correctness with invariants", "with property-based tests for its invariants", "that is safe under the "
    "C++ memory model with relaxed atomics where possible", "in under 2 KB of stack", "and analyse its "
    "amortised complexity", "handling every edge case of the spec", "with formal pre- and post-conditions",
]
CODE_ANALYSES = [
    "Find the ABA problem in a Treiber stack that reuses nodes, and fix it.",
    "Why can double-checked locking fail in Java before version 5, and what does volatile change?",
    "Explain why this Rust code needs Pin and how a self-referential future breaks without it.",
    "Prove that a given two-phase locking schedule is conflict-serializable.",
    "Derive the time complexity of Ukkonen's suffix tree construction.",
    "Show that a memory fence is needed in Peterson's algorithm on x86 and say where.",
    "Vectorize a prefix-sum over 32-bit integers with AVX2 and explain the shuffle steps.",
    "Explain how a Spectre v1 gadget leaks through the cache and how to mitigate it in a JIT.",
    "Diagnose a priority inversion between three real-time threads sharing a mutex.",
    "Why does this Go program deadlock when the channel buffer is full and two goroutines select on it?",
    "Write a type-level natural-number addition in Haskell and prove it commutative with type families.",
    "Explain the variance rules that make a Rust &'a mut T invariant in T.",
]
CODE_FORMS = [
    "Implement {thing} in {lang} {cons}.", "Implement {thing} in {lang}.", "{lang}: {thing}, {cons}.",
    "Write {thing} in {lang}.", "Design and implement {thing} {cons}.",
    "I need {thing} for a production service written in {lang}. It has to be correct under heavy concurrency "
    "and {cons2}. Please write it, explain the design decisions, and list the failure modes you considered.",
    "Can you build {thing} in {lang}? Give the full code, {cons}.",
]


def code():
    out = set(CODE_ANALYSES)
    out |= {"Implementa un asignador de memoria sin bloqueos en C.", "Écris un vérificateur de types "
            "Hindley-Milner en OCaml.", "Implementiere Raft-Log-Replikation in Go mit Snapshots.",
            "Scrivi un garbage collector generazionale in C++."}
    while len(out) < PER_DOMAIN:
        cons = rng.choice(CODE_CONSTRAINTS)
        out.add(rng.choice(CODE_FORMS).format(thing=rng.choice(SYSTEMS), lang=rng.choice(LANGS), cons=cons,
                                              cons2=cons.removeprefix("and ")))
    return sorted(out)


# ---------------------------------------------------------------- math
THEOREMS = [
    "there are infinitely many primes of the form 6k + 5", "the sum of the reciprocals of the primes diverges",
    "pi is irrational", "the square root of 3 is irrational and not a sum of two rational squares roots",
    "every finite integral domain is a field", "a group of order 15 is cyclic", "a group of order p^2 is abelian",
    "the alternating group A5 is simple", "every continuous function on [0, 1] is uniformly continuous",
    "a bounded monotone sequence converges", "the Cantor set is uncountable and has measure zero",
    "the real numbers are uncountable", "e is transcendental", "the fundamental theorem of algebra holds",
    "every planar graph is 5-colourable", "a tree with n vertices has n - 1 edges", "Hall's marriage theorem holds",
    "the Ramsey number R(3,3) equals 6", "the harmonic series diverges but the alternating one converges",
    "Fermat's little theorem holds", "Wilson's theorem holds", "quadratic reciprocity holds",
    "2 is a quadratic residue mod p exactly when p is 1 or 7 mod 8", "the Basel sum equals pi^2/6",
    "the Brouwer fixed-point theorem holds in dimension 2", "Lagrange's theorem holds for finite groups",
    "every compact metric space is complete and totally bounded", "the Banach fixed-point theorem holds",
    "the spectral theorem holds for real symmetric matrices", "Sylow subgroups of the same order are conjugate",
    "the polynomial x^5 - x - 1 is not solvable by radicals", "the Riemann zeta function has no zeros on Re(s) = 1",
]
HARD_COMPUTE = [
    "Evaluate the integral of ln(x)/(1 + x^2) from 0 to infinity.",
    "Evaluate the integral of x/(e^x - 1) from 0 to infinity.",
    "Find all functions f from the reals to the reals with f(x + y) + f(xy) = f(x)f(y) + 1.",
    "Find all integer solutions of x^3 + y^3 = z^3 + 1 with small bounds and describe the family.",
    "How many 10-digit numbers have digits summing to 45 and are divisible by 11?",
    "Compute the number of spanning trees of the cube graph Q3.",
    "Find the remainder when 3^(3^(3^3)) is divided by 1000.",
    "Determine the Galois group of x^4 - 2 over the rationals.",
    "Compute the fundamental group of the Klein bottle.",
    "Find the eigenvalues of the n-by-n tridiagonal matrix with 2 on the diagonal and -1 off it.",
    "Solve the recurrence T(n) = 2T(sqrt(n)) + log n.",
    "Find the expected number of rolls of a fair die until two consecutive sixes appear.",
    "Determine all n for which n^2 + 1 divides n! .",
    "Compute the volume of the intersection of three perpendicular unit-radius cylinders.",
    "Find the asymptotic growth of the number of partitions of n.",
    "Compute the residue of 1/(z^2 + 1)^3 at z = i.",
    "Find the minimal polynomial of cos(2pi/7) over the rationals.",
    "Solve the PDE u_t = u_xx on [0, pi] with u = 0 at the ends and u(x, 0) = x(pi - x).",
    "How many ways can a 2-by-n board be tiled with dominoes and L-trominoes?",
    "Find the probability that three random points on a circle form an acute triangle, with proof.",
]
MATH_FORMS = [
    "Prove that {t}.", "Show that {t}.", "Prove rigorously that {t}.", "Give a complete proof that {t}.",
    "Prove that {t}, and explain where each hypothesis is used.",
    "My professor said that {t} and left the proof as an exercise. Could you write out a full, rigorous proof "
    "with every step justified?",
]


def math():
    out = set(HARD_COMPUTE)
    out |= {"Démontrer que le groupe A5 est simple.", "Demuestra que hay infinitos primos de la forma 4k + 3.",
            "Beweise, dass e irrational ist, ohne Reihenentwicklung zu zitieren.",
            "Dimostra che ogni gruppo di ordine 35 è ciclico."}
    for t in THEOREMS:
        out.add(rng.choice(MATH_FORMS).format(t=t))
    while len(out) < PER_DOMAIN:
        k = rng.randrange(5)
        if k == 0:
            out.add(rng.choice(MATH_FORMS).format(t=rng.choice(THEOREMS)))
        elif k == 1:
            p = rng.choice([7, 11, 13, 17, 19, 23])
            out.add(f"Count the monic irreducible polynomials of degree {rng.randint(3, 6)} over GF({p}), with proof.")
        elif k == 2:
            a, b = rng.randint(3, 9), rng.randint(10, 40)
            out.add(f"Find all positive integers n such that n^{a} + {b} is a perfect square, and prove there are "
                    f"no others.")
        elif k == 3:
            n = rng.randint(5, 12)
            out.add(f"In how many ways can {n} non-attacking rooks be placed on an {n}-by-{n} board avoiding the main "
                    f"diagonal? Derive a closed form.")
        else:
            d = rng.randint(3, 7)
            out.add(f"Prove the inequality (a1 + ... + a{d})/{d} >= (a1 ... a{d})^(1/{d}) for positive reals, and "
                    f"characterise equality.")
    return sorted(out)


# ---------------------------------------------------------------- reasoning
NAMES = ["Ava", "Ben", "Chloe", "Dev", "Elena", "Finn", "Grace", "Hugo", "Iris", "Jonas", "Kira", "Leo", "Maya",
         "Noah", "Omar", "Pia"]
ATTRS = [("house colour", ["red", "green", "blue", "white", "yellow", "black", "purple"]),
         ("pet", ["cat", "dog", "parrot", "fish", "horse", "snake", "rabbit"]),
         ("drink", ["tea", "coffee", "milk", "juice", "water", "cocoa", "soda"]),
         ("job", ["baker", "pilot", "nurse", "judge", "chef", "tailor", "miner"])]
REASONING_FIXED = [
    "Three gods A, B and C are True, False and Random, and answer in their own words for yes and no. With three "
    "yes-no questions, find out which is which.",
    "100 prisoners each see a box of numbers once and may open 50 boxes. Find a strategy that frees them all with "
    "probability above 30%, and explain why it works.",
    "On an island everyone with blue eyes must leave on the night they know it. A visitor says at least one of "
    "you has blue eyes. There are 100 blue-eyed islanders. What happens, and why does the visitor's statement "
    "matter?",
    "Twelve coins, one counterfeit of unknown weight, three weighings on a balance. Give a full procedure.",
    "Five pirates of strict seniority split 100 gold coins; the eldest proposes and dies if half or more vote no. "
    "What does he propose, by backward induction?",
    "A sealed envelope holds twice the amount of the other. After seeing one, should you switch? Resolve the "
    "paradox.",
    "Explain why Newcomb's problem splits evidential and causal decision theory, and which one you endorse.",
    "Is the statement 'this sentence is false' true, false or neither? Analyse it with Kripke's theory of truth.",
    "A king has 1000 bottles of wine, one poisoned, and ten testers; the poison acts in a day. Find the bottle.",
    "Schedule seven exams into four slots so that no student has two at once, given these conflicts: A-B, A-C, "
    "B-D, C-D, C-E, D-F, E-F, E-G, F-G. Is it possible, and with how few slots?",
    "Which assumption fails in the surprise-exam paradox? Give a rigorous account.",
    "Deduce the hidden rule in the Wason selection task and explain why most people pick the wrong cards.",
]


def zebra():
    n = rng.randint(4, 6)
    who = rng.sample(NAMES, n)
    a1, a2 = rng.sample(ATTRS, 2)
    v1, v2 = rng.sample(a1[1], n), rng.sample(a2[1], n)
    clues = []
    for _ in range(n + 2):
        i, j = rng.sample(range(n), 2)
        clues.append(rng.choice([
            f"{who[i]} lives directly left of the {a1[0]} {v1[j]}",
            f"the owner of the {v2[i]} is not next to {who[j]}",
            f"{who[i]} does not have the {v2[j]}",
            f"the {v1[i]} house is somewhere right of the {v2[j]} owner",
        ]))
    return (f"{n} people ({', '.join(who)}) live in a row of {n} houses, each with a different {a1[0]} and {a2[0]}. "
            f"Clues: {'; '.join(clues)}. Who owns which {a2[0]}? Show the deduction.")


def knights():
    n = rng.randint(4, 7)
    who = rng.sample(NAMES, n)
    claims = []
    for i in range(n):
        j, k = rng.sample([x for x in range(n) if x != i], 2)
        claims.append(rng.choice([
            f"{who[i]} says: '{who[j]} and {who[k]} are of different kinds.'",
            f"{who[i]} says: 'Exactly {rng.randint(1, n - 1)} of us are knaves.'",
            f"{who[i]} says: 'If {who[j]} is a knight, then {who[k]} is a knave.'",
            f"{who[i]} says: '{who[j]} is a knave or I am.'",
        ]))
    return (f"Knights always tell the truth, knaves always lie. " + " ".join(claims) +
            " Determine who is what, and prove the answer is unique.")


def reasoning():
    out = set(REASONING_FIXED)
    out |= {"Résous l'énigme des trois dieux (Vrai, Faux, Aléatoire) en trois questions.",
            "Demuestra por inducción hacia atrás cuál es la oferta del pirata más antiguo.",
            "Löse das Zwölf-Münzen-Problem mit drei Wägungen vollständig."}
    while len(out) < PER_DOMAIN:
        k = rng.randrange(4)
        if k == 0:
            out.add(zebra())
        elif k == 1:
            out.add(knights())
        elif k == 2:
            n = rng.randint(5, 9)
            out.add(f"A {n}-player round-robin ends with no ties. Prove there is always a player who, for every other "
                    f"player, beat them directly or beat someone who beat them.")
        else:
            a, b, c = rng.sample(NAMES, 3)
            out.add(f"{a}, {b} and {c} each wear a hat that is one of {rng.randint(2, 4)} colours and see only the "
                    f"others. They are told at least one hat is white. {a} says 'I don't know', {b} says 'I don't "
                    f"know', {c} says 'I know'. What did {c} deduce and from what?")
    return sorted(out)


# ---------------------------------------------------------------- knowledge
EXPERT_TOPICS = [
    "the renormalization group and why some theories are non-renormalizable",
    "how CRISPR base editors differ from prime editors at the molecular level",
    "the mechanism of action of PCSK9 inhibitors and their effect on LDL receptor recycling",
    "the pathophysiology of hepatorenal syndrome", "why the Weimar hyperinflation accelerated in 1923",
    "the doctrine of consideration in English contract law versus the civil-law notion of cause",
    "the Investiture Controversy and its effect on European state formation",
    "how the Bretton Woods system collapsed and what the Triffin dilemma had to do with it",
    "the evidence for and against the RNA-world hypothesis",
    "the differences between the Copenhagen, many-worlds and QBism interpretations of quantum mechanics",
    "why the Higgs mechanism gives mass to the W and Z bosons but not the photon",
    "the role of the Eurasian steppe in the spread of Indo-European languages",
    "how Basel III's liquidity coverage ratio is computed and why it was introduced",
    "the mechanism of anthracycline cardiotoxicity", "Gödel's second incompleteness theorem and its limits",
    "the causes of the Bronze Age collapse according to current scholarship",
    "how the Chevron doctrine worked and what replaced it in US administrative law",
    "the thermodynamics of the Carnot cycle with real working fluids",
    "the immunology of antibody-dependent enhancement in dengue",
    "how the Kyoto school of philosophy engaged with Heidegger",
    "the economics of the Diamond-Dybvig bank-run model", "the geology of subduction-zone megathrust earthquakes",
    "the Treaty of Westphalia's real impact on sovereignty, as historians now debate it",
    "the pharmacokinetics of drugs with non-linear (Michaelis-Menten) elimination",
    "the biochemistry of the electron transport chain and chemiosmotic coupling",
    "why the cosmological constant problem is considered the worst prediction in physics",
    "the mechanism of long-term potentiation in hippocampal synapses",
    "the differences between the Westminster and Washington models of cabinet responsibility",
    "how transformers' attention scales and what linear-attention approximations give up",
    "the epidemiology of antimicrobial resistance in Gram-negative bacteria",
]
KNOW_FORMS = [
    "Explain {t}.", "Explain {t} in depth, citing the key evidence.", "Give a graduate-level account of {t}.",
    "What is known about {t}? Be precise.", "Critically assess {t}.",
    "I'm preparing for a specialist exam and keep getting confused about {t}. Could you walk me through it "
    "carefully, with the main competing views and where the evidence stands?",
]


def knowledge():
    out = set()
    out |= {"Explique le mécanisme de la potentialisation à long terme.", "¿Por qué colapsó el sistema de "
            "Bretton Woods?", "Erkläre die Pathophysiologie des hepatorenalen Syndroms.",
            "Spiega la querelle delle investiture e le sue conseguenze."}
    for t in EXPERT_TOPICS:
        out.add(rng.choice(KNOW_FORMS).format(t=t))
    while len(out) < PER_DOMAIN:
        a, b = rng.sample(EXPERT_TOPICS, 2)
        k = rng.randrange(3)
        if k == 0:
            out.add(rng.choice(KNOW_FORMS).format(t=a))
        elif k == 1:
            out.add(f"Compare {a} with {b}: what, if anything, do they share?")
        else:
            out.add(f"Summarise the current scholarly debate on {a}, with the strongest objection to the majority "
                    f"view.")
    return sorted(out)


# ---------------------------------------------------------------- writing
FORMS = ["a villanelle", "a sestina", "a Petrarchan sonnet", "a Shakespearean sonnet in strict iambic pentameter",
         "a pantoum", "a ghazal with a consistent radif", "a crown of sonnets (outline plus the first two)",
         "a terza rima canto", "a double acrostic", "a lipogram without the letter e",
         "a palindromic poem that reads the same line by line backwards", "a story told in reverse chronology",
         "a short story with an unreliable narrator whose lie is only clear in the last line",
         "a dialogue in which neither speaker ever uses the letter a",
         "an epistolary story in five letters whose dates reveal the twist"]
THEMES = ["grief", "the fall of an empire", "a lighthouse keeper's last night", "climate migration",
          "a chess game between old rivals", "memory loss", "the first contact with an alien language",
          "a failing marriage", "the ethics of AI", "a city that forgets its name", "exile", "inheritance"]
WRITING_FIXED = [
    "Translate the opening of Dante's Inferno into English terza rima, keeping the rhyme scheme.",
    "Translate this legal clause into French and German so that the three versions are legally equivalent: "
    "'The indemnifying party shall hold harmless the indemnified party from any claim arising out of gross "
    "negligence, save where such claim is time-barred.'",
    "Rewrite the first paragraph of Kafka's Metamorphosis in the style of Hemingway, then of Henry James, and "
    "explain what changed.",
    "Write a 1,500-word op-ed arguing both for and against a carbon tax, such that each half persuades a "
    "different political audience.",
    "Edit this grant proposal abstract to 150 words without losing any of its five aims.",
    "Write a product requirements document for an offline-first medical records app in a refugee camp.",
    "Write a stand-up comedy set about tax law that a tax lawyer would find accurate.",
    "Write a poem in which every line is an anagram of 'the quiet sea'.",
]
WRITING_FORMS = ["Write {f} about {t}.", "{f} on {t}.", "Compose {f} about {t}, no clichés.",
                 "Write {f} about {t} that a literature professor would take seriously.",
                 "For a writing workshop I have to produce {f}, and the theme we were given is {t}. I've tried "
                 "three times and it always falls apart. Could you write one that really works?"]


def writing():
    out = set(WRITING_FIXED)
    out |= {"Écris une villanelle sur l'exil, en alexandrins.", "Escribe un soneto sobre el duelo que sea también "
            "un acróstico.", "Schreibe eine Sestine über das Vergessen.", "Scrivi una terzina dantesca sulla "
            "migrazione climatica."}
    while len(out) < PER_DOMAIN:
        out.add(rng.choice(WRITING_FORMS).format(f=rng.choice(FORMS), t=rng.choice(THEMES)))
    return sorted(out)


# ---------------------------------------------------------------- general
PLANS = [
    "a three-week rail trip through Japan, Korea and Taiwan for a family of five including a wheelchair user and a "
    "toddler, on a budget of 9,000 euros, with no more than four hours of travel per day",
    "a wedding for 120 guests in two countries with two religions, two languages and a six-month deadline",
    "moving my elderly parents into my home while keeping my job, my marriage and their dignity",
    "switching careers from accounting to nursing at 42 with a mortgage and two teenagers",
    "a debt repayment plan across five loans with different rates, a variable income and a baby on the way",
    "splitting custody over the summer holidays between three households in different time zones",
    "a relocation to Germany with a non-EU partner, a dog and a child who needs special-education support",
    "a rota for a shared house of seven people with shift work, two cars and one bathroom",
    "a four-month training plan to run a mountain ultramarathon while recovering from a knee injury",
    "the seating and timing of a conference dinner with 14 speakers, three who cannot sit together and two "
    "interpreters",
]
GOALS = ["a two-week holiday in Patagonia", "a house move across the country", "a return to university",
         "a 60th birthday party", "a year of saving for a deposit", "starting a small catering business",
         "a month-long road trip in the Balkans", "adopting a child from abroad", "a family reunion in Ireland",
         "a home renovation while living in the house", "launching a podcast", "a sabbatical year abroad"]
LIFE_CONSTRAINTS = ["a budget that cannot move", "a partner who works nights", "two kids in different schools",
                    "a dog that cannot fly", "a grandparent with dementia", "a visa that expires in March",
                    "shared custody every other week", "a chronic back injury", "no car", "a vegan, a coeliac "
                    "and a picky eater to feed", "a landlord who won't answer", "a job interview in the middle",
                    "a deadline six weeks away", "three time zones to coordinate", "a fear of flying",
                    "an income that varies month to month", "a wheelchair user in the group"]
GENERAL_FORMS = ["Help me plan {p}.", "Plan {p}.", "I need a detailed plan for {p}. Consider the trade-offs and what "
                 "could go wrong.", "Could you help me think through {p}? Everything seems to depend on everything "
                 "else and I don't know where to start.", "Make {p} work: give a schedule and the decisions I must "
                 "make first."]
DILEMMAS = [
    "My co-founder wants to sell the company; I don't. We each hold 40%, investors hold 20% and side with whoever "
    "offers liquidity. How do I negotiate?",
    "Two job offers: one with equity in a risky startup, one stable with a pension. I have a chronic illness. "
    "Walk me through the decision.",
    "My sister borrowed money from our late father and the will is silent. How do we settle it without a lawsuit "
    "and without losing each other?",
    "Mediate: my teenage son wants to leave school to stream games full time; his mother and I disagree with each "
    "other about how to respond.",
    "Our neighbourhood association is split over a new bike lane that removes parking. Draft a process that gets "
    "to a decision both sides accept.",
]


def general():
    out = set(DILEMMAS)
    out |= {"Aide-moi à organiser un déménagement international avec trois enfants et un budget serré.",
            "Ayúdame a planear un año sabático que no arruine mi carrera.",
            "Hilf mir, die Pflege meiner Mutter mit meinem Vollzeitjob zu vereinbaren."}
    for plan in PLANS:
        out.add(rng.choice(GENERAL_FORMS).format(p=plan))
    while len(out) < PER_DOMAIN:
        goal = rng.choice(GOALS)
        cons = rng.sample(LIFE_CONSTRAINTS, rng.randint(3, 5))
        out.add(rng.choice(GENERAL_FORMS).format(p=f"{goal} with {', '.join(cons[:-1])} and {cons[-1]}"))
    return sorted(out)


def main():
    guard = ProbeGuard()
    rows, dropped = [], 0
    for domain, make in [("code", code), ("math", math), ("reasoning", reasoning), ("knowledge", knowledge),
                         ("writing", writing), ("general", general)]:
        for k, prompt in enumerate(make()):
            if guard.too_close(prompt):
                dropped += 1
                continue
            rows.append({"id": f"generated-hard:{domain}:{k}", "source": "generated-hard",
                         "task": f"generated-hard/{domain}", "domain": domain, "prompt": prompt, "turns": [],
                         "level": None, "outcomes": {}, "cost_usd": {}, "tokens": {}})
    write_jsonl(OUT, rows)
    print(f"wrote {len(rows)} rows to {OUT} ({dropped} dropped as equal or close to probe prompts)")


if __name__ == "__main__":
    main()
