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

TOOL_TASKS = [
    "How do I select rows where a column is null in SQL?", "What does a LEFT JOIN return in SQL?",
    "How do I add a primary key to a table in PostgreSQL?", "How do I make text bold with CSS?",
    "How do I add a background colour to a page in CSS?", "What does the <br> tag do in HTML?",
    "How do I link a stylesheet in an HTML page?", "How do I drop a column from a pandas DataFrame?",
    "How do I create a numpy array of zeros?", "How do I write a regex that matches digits only?",
    "How do I install a package with npm?", "What is package.json for?", "How do I start a new React app?",
    "What is a prop in React?", "How do I create a virtual environment in Python?", "What does pip freeze do?",
    "How do I run a Docker container in the background?", "What does EXPOSE do in a Dockerfile?",
    "How do I check out a new branch in git?", "How do I see the git log in one line per commit?",
    "How do I parse JSON in JavaScript?", "What is the difference between == and === in JavaScript?",
    "How do I make a GET request with curl?", "What does chmod +x do?", "How do I find a file by name in Linux?",
    "How do I comment out several lines in YAML?", "How do I define a route in Express?",
    "How do I return JSON from a Django view?", "What is a primary key?", "What is an API?",
    "What is a variable in programming?", "What is recursion, in one sentence?", "What is a for loop used for?",
    "What is an integer overflow?", "What does 'compile' mean?", "What is an IDE?", "What is Git used for?",
]
CODE_FUNCS = [
    "adds two numbers", "checks whether a number is even", "returns the larger of two numbers",
    "reverses a list", "counts the vowels in a word", "converts Celsius to Fahrenheit", "squares a number",
    "returns the first character of a string", "sums a list of numbers", "says hello to a given name",
]
ERRORS = ["SyntaxError: invalid syntax", "IndexError: list index out of range", "undefined is not a function",
          "command not found", "permission denied", "ModuleNotFoundError", "segmentation fault", "404 Not Found"]

def code():
    out = set(SHELL) | set(TOOL_TASKS)
    for _ in range(40):
        lang = rng.choice(LANGS)
        out.add(rng.choice([f"Write a {lang} function that {rng.choice(CODE_FUNCS)}.",
                            f"Give me a tiny {lang} snippet that {rng.choice(CODE_FUNCS)}."]))
    for err in ERRORS:
        out.add(f"What does the error '{err}' usually mean?")
    out |= {"¿Cómo imprimo un texto en Python?", "Comment déclarer une variable en JavaScript ?",
            "Wie lege ich in Git einen neuen Branch an?", "Come si scrive un ciclo for in Java?"}
    while len(out) < 260:
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
    out |= {"Combien font 6 fois 7 ?", "¿Cuánto es 15 más 27?", "Was ist 48 geteilt durch 6?",
            "Quanto fa 9 per 8?", "What is the derivative of x squared?", "What is the square root of 81?",
            "Simplify 4/8.", "What is 3/4 as a decimal?", "Convert 0.5 to a percentage.",
            "What is the area of a square with side 6?", "What is the perimeter of a rectangle 3 by 5?",
            "How many degrees are in a right angle?", "What is a prime number?", "Is 17 prime?"}
    for _ in range(30):
        a, b, c = rng.randint(2, 9), rng.randint(1, 20), rng.randint(2, 9)
        out.add(rng.choice([f"Solve for y: {a}y + {b} = {a * c + b}.", f"Find x if x - {b} = {c}.",
                            f"What value of n makes {a}n = {a * c}?"]))
    while len(out) < 200:
        a, b = rng.randint(3, 99), rng.randint(3, 99)
        out.add(rng.choice(forms)(a, b))
    return sorted(out)

NAMES = ["Ava", "Ben", "Chloe", "Dev", "Elena", "Finn", "Grace", "Hugo", "Iris", "Jonas", "Kira", "Leo", "Maya", "Noah", "Omar", "Pia"]
THINGS = [("a car", "a bicycle", "faster"), ("an elephant", "a cat", "heavier"), ("a mountain", "a hill", "taller"),
          ("summer", "winter", "warmer"), ("a minute", "an hour", "shorter"), ("a feather", "a brick", "lighter")]

CATEGORIES = [("sparrows", "birds", "have feathers"), ("oaks", "trees", "have roots"),
              ("trout", "fish", "live in water"), ("violins", "instruments", "make sound"),
              ("tulips", "flowers", "need sunlight"), ("beetles", "insects", "have six legs")]
ODD_SETS = [["apple", "pear", "carrot", "plum"], ["red", "blue", "seven", "green"], ["piano", "guitar", "drum", "spoon"],
            ["Paris", "Rome", "Spain", "Oslo"], ["dog", "cow", "eagle", "goat"], ["shirt", "sock", "hat", "table"]]
ANALOGIES = [("bird", "nest", "bee"), ("hot", "cold", "up"), ("pen", "write", "knife"), ("day", "night", "summer"),
             ("puppy", "dog", "kitten"), ("eye", "see", "ear")]

def reasoning():
    out = set()
    for part, whole, prop in CATEGORIES:
        out.add(f"All {whole} {prop}. {part.capitalize()} are {whole}. Do {part} {prop}?")
        out.add(f"Some {whole} are {part}. Are all {whole} {part}?")
    for items in ODD_SETS:
        out.add(f"Which word does not belong: {', '.join(rng.sample(items, len(items)))}?")
    for a, b, c in ANALOGIES:
        out.add(f"{a.capitalize()} goes with {b}; what goes with {c} in the same way?")
    out |= {"If it is raining, the ground gets wet. The ground is dry. Is it raining?",
            "Tom always lies. Tom says the door is open. Is the door open?",
            "I walk east, then turn left. Which direction am I walking now?",
            "Put these in order: breakfast, lunch, dinner, waking up.",
            "My brother's daughter is my what?", "If yesterday was Friday, what is tomorrow?",
            "Which comes first, a seed or a tree that grew from it?",
            "Si todos los gatos son animales y Misi es un gato, ¿Misi es un animal?",
            "Si hier était lundi, quel jour sera après-demain ?",
            "Anna ist größer als Ben. Ben ist größer als Carl. Wer ist am kleinsten?"}
    while len(out) < 200:
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

SCIENCE = ["gravity", "an atom", "a molecule", "evaporation", "friction", "a food chain", "an ecosystem",
           "the water cycle", "a magnet", "electricity", "an earthquake", "a comet", "a galaxy", "oxygen",
           "a virus", "a bacterium", "a cell membrane", "a chemical reaction", "static electricity", "erosion"]
WHY = ["Why do leaves change colour in autumn?", "Why do we have day and night?", "Why does ice float on water?",
       "Why does the Moon have phases?", "Why does metal feel cold to the touch?", "Why do we need to sleep?",
       "Why do plants need water?", "Why does salt melt ice on roads?"]
PEOPLE_FACTS = ["Marie Curie", "Isaac Newton", "Cleopatra", "Nelson Mandela", "Leonardo da Vinci", "Charles Darwin",
                "Ada Lovelace", "Julius Caesar", "Mahatma Gandhi", "Galileo Galilei"]
BODY = ["the heart", "the lungs", "the kidneys", "the brain", "the stomach", "red blood cells", "the skin"]

def knowledge():
    out = set(FACTS)
    for topic in SCIENCE:
        out.add(rng.choice([f"What is {topic}?", f"Explain {topic} in simple terms.", f"Briefly, what is {topic}?"]))
    out |= set(WHY)
    for person in PEOPLE_FACTS:
        out.add(rng.choice([f"Who was {person}?", f"What is {person} famous for?"]))
    for organ in BODY:
        out.add(f"What does {organ} do in the human body?")
    out |= {"When did World War II end?", "What was the Roman Empire?", "Where is the Amazon rainforest?",
            "What is the longest river in Africa?", "What gas do plants take in?", "What is the freezing point of water?",
            "¿Cuál es el río más largo del mundo?", "Qui a peint la Joconde ?", "Wie hoch ist der Mount Everest?"}
    for country, _ in CAPITALS:
        out.add(rng.choice([f"What is the capital of {country}?", f"Which city is the capital of {country}?"]))
        out.add(f"What currency is used in {country}?")
    while len(out) < 150:
        country, _ = rng.choice(CAPITALS)
        out.add(rng.choice([f"What continent is {country} in?", f"What language do people speak in {country}?",
                            f"Is {country} a country in Europe?"]))
    return sorted(out)

OCCASIONS = ["birthday", "congratulations", "get well soon", "good luck", "welcome", "farewell", "anniversary", "thank you"]
PEOPLE = ["my sister", "a coworker", "my neighbour", "my uncle", "a classmate", "my boss", "my best friend", "my grandson"]

GENRES = ["haiku", "limerick", "four-line poem", "short story", "slogan", "tagline", "tweet", "Instagram caption",
          "toast", "short speech opening", "product blurb", "riddle in rhyme", "diary entry", "fable"]
TOPICS = ["a rainy Monday", "a lost umbrella", "a dragon who is afraid of the dark", "fresh bread", "the first day of school",
          "a city at night", "a friendly robot", "a bicycle shop", "the ocean", "a family picnic", "a new coffee shop",
          "a library cat", "spring cleaning", "a mountain hike"]
REWRITES = ["Please send me the file.", "We can't come to the meeting.", "The food was not good.",
            "I want a refund.", "Thanks for the help yesterday.", "The report is late again."]

def writing():
    out = set()
    for _ in range(90):
        out.add(f"Write a {rng.choice(GENRES)} about {rng.choice(TOPICS)}.")
    for text in REWRITES:
        out.add(rng.choice([f"Rewrite this more politely: '{text}'", f"Make this sound professional: '{text}'",
                            f"Say this in a warmer tone: '{text}'"]))
    out |= {"Write an out-of-office reply for next week.", "Write a two-line thank-you card for a teacher.",
            "Write a short bio for my Twitter profile; I'm a nurse who loves hiking.",
            "Write a birthday invitation for a garden party.", "Write a short note to my landlord about a leaking tap.",
            "Écris un petit poème sur la mer.", "Escribe un mensaje de cumpleaños para mi madre.",
            "Schreibe eine kurze Einladung zu einem Grillabend."}
    while len(out) < 200:
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
        "Bonjour !", "Hola, ¿qué tal?", "Hallo, wie geht's?", "Ciao!", "Merci beaucoup !", "Gracias por todo.",
        "Danke schön!", "Olá, tudo bem?", "Buenas noches.", "Salut, ça va ?",
        "What should I pack for a weekend in the mountains?", "How can I fall asleep faster?",
        "Give me ideas for a rainy afternoon with kids.", "Help me plan a relaxed Sunday.",
        "What's a fun board game for four people?", "How do I stay motivated to exercise?",
        "Any tips for a first date?", "What should I cook for dinner with rice and eggs?",
        "I feel a bit lonely today.", "How do I politely say no to a friend?", "Plan a three-day trip to Rome for me.",
        "Make me a simple weekly cleaning schedule.", "What houseplants are easy to keep alive?",
        "Suggest a name for my book club.", "How can I save a little money each month?",
        "Give me a packing list for a beach holiday.", "What should I bring to a housewarming party?",
        "I can't decide between two jobs, can you help me think it through?", "How do I make new friends in a new city?",
        "Suggest a weekend hobby I can start cheaply.", "Tell me something to make me smile.",
        "What's a nice way to spend an evening alone?", "Help me write a grocery list for the week.",
        "How do I keep my kids busy on a long car ride?", "What movie should we watch as a family?",
        "Good afternoon!", "Thanks, that's all for now.", "Bye for now!", "How was your weekend?",
    })

# Chatty framings: the same easy question asked at length, so that the difficulty fit does not learn "long =
# hard" (the generated hard pool has terse hard requests for the same reason). A separate stream, so adding
# them left the rows above unchanged.
chat_rng = random.Random(20261204)
OPENERS = ["Hi there! I hope you're having a good day. ", "Hello, sorry if this is a silly question, but ",
           "Quick one for you, and apologies in advance because I'm a complete beginner: ",
           "My daughter asked me this at dinner and I realised I wasn't sure, so I thought I'd ask you. ",
           "Okay, so I've been wondering about this for a while now and never got round to looking it up. ",
           "Hey! Hope you don't mind me asking something really basic. ",
           "I'm putting together some notes for myself and wanted to double-check something simple. "]
CLOSERS = [" Thanks so much in advance, I really appreciate it!", " A short answer is totally fine.",
           " If you could keep it simple that would be great, I'm not an expert at all.",
           " No rush, and thank you for your patience with my questions!",
           " Maybe with a tiny example so I can remember it next time? Thanks!", ""]

def chatty(prompts):
    picked = chat_rng.sample(prompts, len(prompts) // 4)
    return sorted({chat_rng.choice(OPENERS) + p + chat_rng.choice(CLOSERS) for p in picked})

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
        base = make()
        for k, prompt in enumerate(base + chatty(base)):
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
