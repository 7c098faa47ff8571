#!/usr/bin/env python3
"""Writes training-data/generated-easy.jsonl: an easy pool *inside* each domain, generated from templates.

The public data has almost no easy items within a domain (no one-line arithmetic, no "how do I print in
Python", no simple facts), so a difficulty ranker learns "long and mathy = hard", which length already
knows. These rows fill that gap: short everyday questions a weak model answers as well as a strong one,
labelled with a one-level scale (`level` {"value": 1, "max": 1}), so they join the easy pool of the
difficulty fit (training/difficulty.rs) and train the domain head. No outcomes.

Kept apart from the probe set: any generated prompt whose normalized text equals a probe prompt is dropped,
and the templates were written separately from it (different wording, different numbers and facts).
Deterministic (seeded); rerun to regenerate: scripts/make-easy-pool.py
"""
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "training-data" / "generated-easy.jsonl"
PROBE = ROOT / "probe"
LEVEL = {"value": 1, "max": 1, "scale": "generated easy pool"}

rng = random.Random(20261202)

LANGS = ["Python", "JavaScript", "Java", "C#", "Go", "Ruby", "PHP", "TypeScript", "Kotlin", "Swift", "Rust", "C++"]
CODE_ACTIONS = [
    "print a line of text", "write a comment", "declare a constant", "concatenate two strings",
    "get the current date", "convert a string to an integer", "check if a list is empty",
    "loop over a list", "define a function", "return a value from a function", "create an array",
    "get the last element of an array", "make a string uppercase", "split a string by commas",
    "write an if-else statement", "read user input", "round a number", "import a module",
    "create a class", "find the length of a string", "compare two numbers", "exit a program",
    "write a while loop", "check the type of a variable", "join a list of strings",
]
CODE_ONE_LINERS = [
    "What does the {kw} keyword mean in {lang}?", "How do I {act} in {lang}?", "In {lang}, how can I {act}?",
    "Quick {lang} question: how do I {act}?", "Show me how to {act} in {lang}.",
]
KEYWORDS = ["return", "if", "else", "for", "while", "break", "continue", "import", "class", "null", "true", "let"]
SHELL = [
    "How do I list the files in a folder in the terminal?", "What command shows my current directory?",
    "How do I make a new folder from the command line?", "How do I copy a file in Linux?",
    "What does the cd command do?", "How do I clear the terminal screen?",
    "How do I see which version of Python is installed?", "How do I rename a file with mv?",
    "How do I clone a repository with git?", "What does git pull do?",
]

def code():
    out = set(SHELL)
    while len(out) < 110:
        t = rng.choice(CODE_ONE_LINERS)
        out.add(t.format(lang=rng.choice(LANGS), act=rng.choice(CODE_ACTIONS), kw=rng.choice(KEYWORDS)))
    return sorted(out)

def math():
    out = set()
    forms = [
        lambda a, b: f"What is {a} plus {b}?", lambda a, b: f"Calculate {a} + {b}.",
        lambda a, b: f"What is {a + b} minus {b}?", lambda a, b: f"Multiply {a % 13 + 2} by {b % 11 + 2}.",
        lambda a, b: f"What's {a % 12 + 2} times {b % 12 + 2}?", lambda a, b: f"Divide {(a % 9 + 2) * (b % 9 + 2)} by {b % 9 + 2}.",
        lambda a, b: f"What is {10 * (a % 9 + 1)}% of {10 * (b % 20 + 1)}?", lambda a, b: f"Is {a} an even number?",
        lambda a, b: f"Which is larger, {a} or {b}?", lambda a, b: f"Round {a}.{b % 10}{a % 10} to the nearest whole number.",
        lambda a, b: f"How many centimetres are in {a % 9 + 2} metres?", lambda a, b: f"How many seconds are in {a % 9 + 2} minutes?",
        lambda a, b: f"What is {a % 10 + 2} squared?", lambda a, b: f"I have {a} marbles and give away {min(a, b % a + 1)}. How many are left?",
        lambda a, b: f"A pencil costs {a % 5 + 1} dollars. How much do {b % 6 + 2} pencils cost?",
        lambda a, b: f"What is the average of {a} and {b + a % 2 * 0}?",
    ]
    while len(out) < 110:
        a, b = rng.randint(3, 99), rng.randint(3, 99)
        out.add(rng.choice(forms)(a, b))
    return sorted(out)

NAMES = ["Ava", "Ben", "Chloe", "Dev", "Elena", "Finn", "Grace", "Hugo", "Iris", "Jonas", "Kira", "Leo", "Maya", "Noah", "Omar", "Pia"]
THINGS = [("a car", "a bicycle", "faster"), ("an elephant", "a cat", "heavier"), ("a mountain", "a hill", "taller"),
          ("summer", "winter", "warmer"), ("a minute", "an hour", "shorter"), ("a feather", "a brick", "lighter")]

def reasoning():
    out = set()
    while len(out) < 100:
        a, b, c = rng.sample(NAMES, 3)
        k = rng.randrange(8)
        if k == 0:
            out.add(f"{a} is older than {b}. Who is younger?")
        elif k == 1:
            out.add(f"{a} is taller than {b}, and {b} is taller than {c}. Who is the tallest?")
        elif k == 2:
            x, y, adj = rng.choice(THINGS)
            out.add(f"Which is {adj}, {x} or {y}?")
        elif k == 3:
            out.add(f"If {a} has {rng.randint(2, 9)} apples and {b} has none, who has more apples?")
        elif k == 4:
            d = rng.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Saturday"])
            out.add(f"If today is {d}, what day was yesterday?")
        elif k == 5:
            animal = rng.choice(["dogs", "birds", "fish", "horses"])
            out.add(f"All {animal} are animals. {a}'s pet is one of the {animal}. Is it an animal?")
        elif k == 6:
            out.add(f"{a} arrived before {b}. Who arrived later?")
        else:
            out.add(f"There are {rng.randint(3, 9)} chairs and {a} takes one away. Are there fewer chairs now?")
    return sorted(out)

CAPITALS = [("Spain", "Madrid"), ("Germany", "Berlin"), ("Japan", "Tokyo"), ("Canada", "Ottawa"), ("Egypt", "Cairo"),
            ("Kenya", "Nairobi"), ("Peru", "Lima"), ("Norway", "Oslo"), ("Greece", "Athens"), ("India", "New Delhi"),
            ("Mexico", "Mexico City"), ("Portugal", "Lisbon"), ("Chile", "Santiago"), ("Ireland", "Dublin"),
            ("Poland", "Warsaw"), ("Thailand", "Bangkok"), ("Sweden", "Stockholm"), ("Turkey", "Ankara")]
FACTS = [
    "Who wrote Hamlet?", "How many wheels does a tricycle have?", "What colour are bananas when they are ripe?",
    "What do cows drink?", "Which animal says moo?", "How many hours are in a day?", "What is ice made of?",
    "What is the opposite of hot?", "Which month comes after June?", "How many months are in a year?",
    "Where do penguins live?", "What is the main language of Argentina?", "Which planet do we live on?",
    "What do caterpillars turn into?", "What shape is a football?", "How many sides does a triangle have?",
    "Who was Albert Einstein?", "What is the largest animal on land?", "What fruit is used to make wine?",
    "What is the Statue of Liberty?", "Which sport uses a racket and a shuttlecock?", "What is snow?",
]

def knowledge():
    out = set(FACTS)
    for country, _ in CAPITALS:
        out.add(rng.choice([f"What is the capital of {country}?", f"Which city is the capital of {country}?"]))
        out.add(f"What currency is used in {country}?")
    while len(out) < 100:
        country, _ = rng.choice(CAPITALS)
        out.add(rng.choice([f"What continent is {country} in?", f"What language do people speak in {country}?",
                            f"Is {country} a country in Europe?"]))
    return sorted(out)

OCCASIONS = ["birthday", "congratulations", "get well soon", "good luck", "welcome", "farewell", "anniversary", "thank you"]
PEOPLE = ["my sister", "a coworker", "my neighbour", "my uncle", "a classmate", "my boss", "my best friend", "my grandson"]

def writing():
    out = set()
    while len(out) < 100:
        k = rng.randrange(7)
        occ, who = rng.choice(OCCASIONS), rng.choice(PEOPLE)
        if k == 0:
            out.add(f"Write a short {occ} message for {who}.")
        elif k == 1:
            out.add(f"Give me a one-sentence {occ} note for {who}.")
        elif k == 2:
            word = rng.choice(["sunny", "quickly", "garden", "friendly", "river", "music", "tired", "bright"])
            out.add(f"Use the word '{word}' in a sentence.")
        elif k == 3:
            topic = rng.choice(["flowers", "the rain", "a cat", "the morning", "snow", "the beach", "trees"])
            out.add(f"Write a short poem about {topic}.")
        elif k == 4:
            out.add(f"Write a title for a short article about {rng.choice(['gardening', 'coffee', 'running', 'dogs', 'baking', 'travel'])}.")
        elif k == 5:
            out.add(rng.choice(["Fix the typo: 'I am goign home.'", "Correct this: 'He have two cats.'",
                                "Make this sentence friendlier: 'Call me.'", "Spell-check: 'Tommorow is Sunday.'",
                                "Fix the grammar: 'They was late.'", "Shorten: 'I am writing this email to say thanks.'"]))
        else:
            out.add(f"Write a simple sign saying the {rng.choice(['office', 'pool', 'library', 'cafe', 'gym'])} is closed today.")
    return sorted(out)

def general():
    return sorted({
        "Hi!", "Hello!", "Hey, how's it going?", "Good morning.", "Good evening, how was your day?", "Thank you!",
        "Thanks for that.", "See you later!", "Have a nice day!", "How are you feeling today?", "What's new?",
        "Nice to talk to you.", "Can you tell me a riddle?", "Say something nice.", "I'm going to bed now, good night.",
        "What should I watch tonight?", "Any ideas for lunch?", "Can you help me relax?", "I'm happy today!",
        "Wish me luck for my interview.", "Cheers!", "Yo", "Hiya", "Morning!", "Sup?", "Thanks a bunch.",
        "Can you cheer me up?", "Recommend a podcast.", "Suggest a quick snack.", "What can you do?",
        "Let's chat.", "I'm back!", "Happy Friday!", "Merry Christmas!", "Happy new year!", "Are you there?",
        "Good job, thanks.", "That was helpful.", "Remind me to call mom at five.", "What's a good name for a cat?",
    })

def norm(text):
    return " ".join(text.lower().split())[:200]

def main():
    probe = set()
    for name in ["pairs.jsonl", "domains.jsonl"]:
        for line in (PROBE / name).read_text().splitlines():
            r = json.loads(line)
            for key in ("easier", "harder", "prompt"):
                if key in r:
                    probe.add(norm(r[key]))
    rows, dropped = [], 0
    for domain, make in [("code", code), ("math", math), ("reasoning", reasoning), ("knowledge", knowledge),
                         ("writing", writing), ("general", general)]:
        for k, prompt in enumerate(make()):
            if norm(prompt) in probe:
                dropped += 1
                continue
            rows.append({"id": f"generated-easy:{domain}:{k}", "source": "generated-easy", "task": f"generated-easy/{domain}",
                         "domain": domain, "prompt": prompt, "turns": [], "level": LEVEL,
                         "outcomes": {}, "cost_usd": {}, "tokens": {}})
    with OUT.open("w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {OUT} ({dropped} dropped as probe prompts)")

if __name__ == "__main__":
    main()
