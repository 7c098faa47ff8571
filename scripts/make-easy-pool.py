#!/usr/bin/env python3
"""Writes training-data/generated-easy.jsonl: an easy pool *inside* each domain, generated from templates.

The public data has almost no easy items within a domain (no one-line arithmetic, no "how do I print in
Python", no simple facts), so a difficulty ranker learns "long and mathy = hard", which length already
knows. These rows fill that gap: short everyday questions a weak model answers as well as a strong one,
labelled with a one-level scale (`level` {"value": 1, "max": 1}), so they join the easy pool of the
difficulty fit (training/difficulty.rs) and train the domain head. No outcomes.

Kept apart from the probe set: any generated prompt equal or close to a probe prompt is dropped (pool_common.py),
and the templates were written separately from it (different wording, different numbers and facts).
Deterministic (seeded); rerun to regenerate: scripts/make-easy-pool.py
"""
import random
from pathlib import Path

from pool_common import ProbeGuard, write_jsonl

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "training-data" / "generated-easy.jsonl"
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


# More everyday questions per domain (added 2026-12-04), from their own stream so the rows above stay as they
# were: concept and tool questions for code, calculus and counting basics for math, brain teasers with
# numbers, sequences and syllogisms worded many ways for reasoning (a reader files a puzzle with numbers under
# reasoning, the sources' taxonomies under math), inventors and works for knowledge, product copy and
# proofreading for writing, small talk and etiquette for general; more of them outside English.
more_rng = random.Random(20261205)
CONCEPTS = ["a closure", "a race condition", "a deadlock", "garbage collection", "a pointer", "an interface",
            "inheritance", "polymorphism", "a hash map", "a linked list", "a REST API", "a unit test",
            "dependency injection", "a promise", "async/await", "a lambda", "a generic type", "a mutex",
            "a stack overflow", "big-O notation", "a database index", "a foreign key", "a git merge conflict",
            "a Docker image", "a memory leak", "an enum", "a null pointer exception", "a callback", "a decorator"]
PAIRS_CODE = [("a list", "a tuple"), ("a process", "a thread"), ("an array", "a linked list"), ("GET", "POST"),
              ("let", "const"), ("an abstract class", "an interface"), ("git merge", "git rebase"),
              ("SQL", "NoSQL"), ("a compiler", "an interpreter"), ("TCP", "UDP"), ("stack", "heap memory")]
TOOLS = ["Write a SQL query that lists the {n} most recent orders.", "Write a SQL query to find duplicate emails in a users table.",
         "Write a regex that matches a {thing}.", "How do I {git} in git?", "How do I {css} with CSS?",
         "How do I send an HTTP POST request in {lang}?", "How do I read a file line by line in {lang}?",
         "How do I sort a list of numbers in {lang}?", "How do I parse a date string in {lang}?",
         "How do I write to a CSV file in {lang}?", "How do I handle an exception in {lang}?"]
REGEX_THINGS = ["US zip code", "date like 2024-01-31", "hex colour code", "phone number with dashes", "whole word 'cat'",
                "string of only letters", "IPv4 address"]
GIT_ACTIONS = ["undo my last commit", "see which files changed", "delete a local branch", "stash my changes",
               "rename a branch", "discard changes to one file", "see who changed a line", "add a remote"]
CSS_ACTIONS = ["round the corners of a box", "make an image responsive", "put two divs side by side",
               "change the font of a page", "hide an element", "add a shadow to a button", "make a sticky header"]

def more_code():
    out = set()
    for c in CONCEPTS:
        out.add(more_rng.choice([f"What is {c} in programming?", f"Explain {c} with a short example.",
                                 f"What is {c}? Show me in {more_rng.choice(LANGS)}."]))
    for a, b in PAIRS_CODE:
        out.add(f"What's the difference between {a} and {b}?")
    while len(out) < 150:
        out.add(more_rng.choice(TOOLS).format(n=more_rng.randint(5, 20), thing=more_rng.choice(REGEX_THINGS),
                                              git=more_rng.choice(GIT_ACTIONS), css=more_rng.choice(CSS_ACTIONS),
                                              lang=more_rng.choice(LANGS)))
    out |= {"¿Qué es una variable en programación?", "Comment trier une liste en Python ?",
            "Wie schreibe ich eine Funktion in JavaScript?", "Qual è la differenza tra una lista e un array?",
            "Como faço um loop em Python?", "Schreib eine SQL-Abfrage, die alle Kunden aus Berlin zeigt."}
    return sorted(out)

FUNCS = ["x^3", "sin(x)", "e^(2x)", "3x^2 + 2x", "ln(x^2)", "1/x", "sqrt(x)", "cos(3x)", "x e^x"]

def more_math():
    out = set()
    for f in FUNCS:
        out.add(more_rng.choice([f"What is the derivative of {f}?", f"Differentiate {f}.",
                                 f"Find the integral of {f}.", f"What is the antiderivative of {f}?"]))
    out |= {"What is the limit of sin(x)/x as x approaches 0?", "What is the sum of the first 10 positive integers?",
            "What is the Taylor series of sin(x) around 0?", "What is 5 factorial?", "How many ways can 3 books be arranged on a shelf?",
            "What is the probability of rolling a 6 on a die?", "How many combinations of 2 items from 5 are there?",
            "What is the slope of the line y = 3x + 2?", "What is log base 10 of 1000?", "Expand (x + 1)^2.",
            "Factor x^2 - 9.", "What is the median of 3, 7, 9, 12, 15?", "Convert 3/8 to a percentage.",
            "Calcule 12 fois 11.", "¿Cuánto es la raíz cuadrada de 144?", "Berechne 15 Prozent von 200.",
            "Quanto fa 7 al quadrato?", "Quanto é 48 dividido por 4?", "Rechne 125 minus 37.",
            "Calcula el área de un círculo de radio 2.", "Résous 2x + 3 = 11."}
    while len(out) < 110:
        a, b = more_rng.randint(2, 12), more_rng.randint(2, 30)
        out.add(more_rng.choice([f"How many ways can {a} people line up?", f"What is {b} choose 2?",
                                 f"What is the probability of flipping {a % 4 + 2} heads in a row?",
                                 f"What is the integral of {a}x from 0 to {b % 5 + 1}?",
                                 f"What is the limit of {a}x/(x + {b}) as x goes to infinity?",
                                 f"What is the sum of the angles in a polygon with {a + 3} sides?",
                                 f"Find the {a}th term of the sequence 3, 7, 11, 15, ..."]))
    return sorted(out)

def more_reasoning():
    out = set()
    seqs = [[2, 4, 8, 16], [3, 6, 9, 12], [1, 4, 9, 16], [5, 10, 20, 40], [1, 3, 6, 10], [2, 3, 5, 7, 11],
            [81, 27, 9, 3], [1, 2, 6, 24], [10, 8, 6, 4], [1, 8, 27, 64]]
    for q in seqs:
        seq = ", ".join(map(str, q))
        out.add(more_rng.choice([f"What comes next in the sequence {seq}?", f"Find the pattern and the next number: {seq}, ...",
                                 f"Continue the series: {seq}."]))
    syl = [("dolphins", "mammals", "breathe air"), ("robins", "birds", "lay eggs"), ("squares", "rectangles", "have four sides"),
           ("poets", "writers", "use words"), ("apples", "fruits", "grow on plants"), ("judges", "lawyers", "studied law")]
    for a, b, c in syl:
        out.add(more_rng.choice([f"If every one of the {b} {c} and {a} are {b}, what can we conclude about {a}?",
                                 f"Premise one: all {a} are {b}. Premise two: some {b} {c}. Does it follow that some {a} {c}?",
                                 f"All {b} {c}. Nothing that {c} is a stone. Can a stone be one of the {a}?",
                                 f"Is this argument valid? All {a} are {b}; all {b} {c}; so all {a} {c}."]))
    teasers = [
        "A farmer has 17 sheep and all but 9 run away. How many are left?",
        "If you overtake the person in second place in a race, what place are you in?",
        "How many times can you subtract 5 from 25?",
        "A rope ladder hangs over a ship with rungs 30 cm apart; the tide rises 1 metre. How many rungs are under water now if 3 were before?",
        "A doctor gives you three pills and tells you to take one every half hour. How long do they last?",
        "I have two coins that add up to 30 cents and one of them is not a nickel. What are they?",
        "If a red house is made of red bricks and a blue house of blue bricks, what is a greenhouse made of?",
        "You are in a dark room with a candle, a wood stove and a gas lamp, and one match. What do you light first?",
        "A snail climbs 3 metres up a 10-metre wall each day and slides back 2 each night. When does it reach the top?",
        "If two hens lay two eggs in two days, how many eggs do four hens lay in four days?",
        "Three friends split a bill and each pays 10; the waiter returns 5 and they keep 1 each and tip 2. Where is the missing euro?",
        "A train leaves at 9:00 and arrives at 11:30 the same day. The clock at arrival is 15 minutes fast. How long was the trip really?",
        "What is the angle between the hour and minute hands at 6:00?",
        "Five people shake hands once with each other. How many handshakes is that, and how did you reason it out?",
        "A box holds red and blue socks. How many must you take in the dark to be sure of a matching pair?",
        "Which number is the odd one out: 3, 5, 7, 9, 11?", "Which shape doesn't belong: square, rectangle, circle, rhombus?",
        "Sort these by size, smallest first: a car, an ant, a house, a dog.",
        "Ordena de menor a mayor: elefante, ratón, perro.", "Quel nombre manque : 2, 4, ?, 8, 10 ?",
        "Wenn morgen Mittwoch ist, welcher Tag war gestern?", "Se tutti i pesci nuotano e il salmone è un pesce, il salmone nuota?",
        "Tous les chats miaulent. Félix miaule. Félix est-il forcément un chat ?",
    ]
    out |= set(teasers)
    while len(out) < 110:
        a, b = more_rng.sample(NAMES, 2)
        n = more_rng.randint(3, 9)
        out.add(more_rng.choice([f"{a} is {n} years older than {b}. In {n + 2} years, how much older will {a} be?",
                                 f"If {n} cats catch {n} mice in {n} minutes, how many cats catch 100 mice in 100 minutes?",
                                 f"{a} is facing north and turns right {n} times. Which way is {a} facing now?",
                                 f"In a line, {a} is {n}th from the front and {n + 2}th from the back. How many people are in the line?"]))
    return sorted(out)

INVENTIONS = [("the light bulb", "invented"), ("the printing press", "invented"), ("the theory of relativity", "came up with"), ("DNA's structure", "discovered"),
              ("the World Wide Web", "invented"), ("radium", "discovered"), ("the steam engine", "improved")]
WORKS = ["The Starry Night", "Don Quixote", "the Sistine Chapel ceiling", "Pride and Prejudice", "War and Peace",
         "The Magic Flute", "Guernica", "One Hundred Years of Solitude", "The Divine Comedy"]

def more_knowledge():
    out = set()
    for thing, verb in INVENTIONS:
        out.add(f"Who {verb} {thing}?")
    for w in WORKS:
        out.add(more_rng.choice([f"Who created {w}?", f"Who is the author of {w}?", f"Who made {w}?"]))
    out |= {"What is the tallest mountain in Africa?", "How many bones are in the adult human body?",
            "What is photosynthesis?", "When did the Berlin Wall fall?", "What does DNA stand for?",
            "Which ocean is the largest?", "What is the boiling point of water at sea level?",
            "Who was the first person on the Moon?", "What language is spoken in Brazil?",
            "¿Quién escribió Cien años de soledad?", "Qual è la capitale dell'Australia?", "Quem pintou a Mona Lisa?", "Wann fiel die Berliner Mauer?",
            "¿Cuántos planetas hay en el sistema solar?", "Pourquoi le ciel est-il bleu ?"}
    return sorted(out)

PRODUCTS = ["a reusable water bottle", "a wool scarf", "a standing desk", "organic honey", "a phone case",
            "a scented candle", "running shoes", "a ceramic mug", "a backpack", "a desk lamp"]
TYPO_LINES = ["Me and him goes to the store yesterday.", "Its a beautifull day outside.", "Your welcome to come anytime.",
              "I could of done better.", "Less people came then expected.", "The team have finished there work."]

def more_writing():
    out = set()
    for p in PRODUCTS:
        out.add(more_rng.choice([f"Write a product description for {p}.", f"Write a short ad for {p}.",
                                 f"Write two sentences of marketing copy for {p}."]))
    for t in TYPO_LINES:
        out.add(more_rng.choice([f"Proofread: '{t}'", f"Correct the grammar: '{t}'", f"Fix the mistakes in: '{t}'"]))
    out |= {"Summarize this paragraph in one sentence: 'The town council met on Monday and agreed to repair the bridge.'",
            "Turn these notes into a paragraph: sunny, picnic, lake, lost keys.", "Write a headline for a story about a lost dog found.",
            "Paraphrase: 'The meeting has been postponed until further notice.'", "Write a caption for a photo of a sunset.",
            "Rédige un court message d'anniversaire pour un collègue.", "Escribe una descripción breve de una cafetería.",
            "Schreibe einen kurzen Text für eine Geburtstagskarte.", "Scrivi una breve poesia sulla pioggia.",
            "Corrige : « Je suis allé au marché hier et j'ai acheter des pommes. »"}
    return sorted(out)

def more_general():
    return sorted({
        "Tell me something interesting.", "Tell me a joke about cats.", "Give me a random fun fact.",
        "What's a good gift for my mom?", "What should I get my brother for his birthday?", "Gift ideas for a coworker leaving?",
        "How do I say no to a party invitation without being rude?", "How should I reply to a wedding invitation I can't attend?",
        "Is it rude to be ten minutes late to dinner?", "How much should I tip at a restaurant?",
        "What should I say to a friend who lost her job?", "How do I start a conversation at a party?",
        "I'm bored, any ideas?", "I'm feeling stressed, any quick tips?", "What's a nice thing to do this weekend?",
        "Guten Tag!", "Gute Nacht!", "Wie geht es dir?", "Danke, bis später!", "Buongiorno!", "Buenos días, ¿cómo estás?",
        "Bonsoir, comment vas-tu ?", "Bom dia!", "Merci, bonne journée !", "Grazie mille!", "Hasta luego.",
        "Was soll ich heute Abend kochen?", "¿Qué película me recomiendas para esta noche?", "Tu as une idée de cadeau pour ma sœur ?",
        "What's a good name for a goldfish?", "Recommend a book for a long flight.", "What song should I listen to when I'm sad?",
        "Help me decide what to wear to a job interview.", "What should I do on my day off?", "How do I stop procrastinating?",
    })


# Reasoning puzzles with numbers, worded many ways (rates, ages, orders, calendars, weighings, crossings): a
# reader files them under reasoning even though they hold numbers, while the sources' math sets pull anything
# numeric into math.
def numeric_puzzles():
    out = set()
    while len(out) < 120:
        a, b = more_rng.sample(NAMES, 2)
        n, m = more_rng.randint(2, 9), more_rng.randint(2, 9)
        k = more_rng.randrange(10)
        if k == 0:
            out.add(f"If {n} painters paint {n} fences in {m} hours, how long do {n * 3} painters take for {n * 3} fences? Explain the trick.")
        elif k == 1:
            out.add(f"{a} is twice as old as {b} was when {a} was as old as {b} is now. If {b} is {n * 6}, how old is {a}?")
        elif k == 2:
            out.add(f"{n + 2} runners finish a race. {a} beat {b} but finished behind {n} others. In what place did {a} finish at best?")
        elif k == 3:
            day = more_rng.choice(["Monday", "Wednesday", "Friday", "Sunday"])
            out.add(f"If {n + m} days ago it was {day}, what day will it be in {m * 7 + n} days?")
        elif k == 4:
            out.add(f"You have {n + 6} identical-looking balls and one is heavier. What is the fewest weighings on a balance that always finds it?")
        elif k == 5:
            out.add(f"A farmer must take a wolf, a goat and a cabbage across a river in a boat that holds one item. The trip takes {n} minutes each way. What is the plan, and how long does it take?")
        elif k == 6:
            out.add(f"{a} lies on {more_rng.choice(['Mondays', 'Tuesdays', 'weekends'])} and tells the truth otherwise. Today {a} says 'I lied yesterday.' What day can it be?")
        elif k == 7:
            out.add(f"A drawer has {n} black and {m} white gloves, left and right mixed. How many must you take in the dark to be sure of a matching pair?")
        elif k == 8:
            out.add(f"Which is the odd one out, and why: {', '.join(more_rng.sample(['2', '3', '5', '7', '9', '11', '13'], 4))}?")
        else:
            out.add(f"{a} says the {m}th of next month is a {more_rng.choice(['Tuesday', 'Saturday'])}; {b} says it is {n} days after a Monday. Can both be right? Reason it out.")
    return sorted(out)

# The same everyday requests outside English: the embedding model is mostly English, so short requests in
# other languages land wherever their few shared words point unless some are in the data.
ML = {
    "de": {"math": ["Was ist {a} mal {b}?", "Berechne {a} plus {b}.", "Wie viel ist {c} geteilt durch {b}?", "Löse {b}x = {c}."],
           "reasoning": ["{x} ist älter als {y}, und {y} ist älter als {z}. Wer ist am jüngsten?", "Welche Zahl kommt als Nächstes: {a}, {a2}, {a3}?",
                         "Alle Vögel haben Federn. Ein Spatz ist ein Vogel. Hat ein Spatz Federn?"],
           "knowledge": ["Was ist die Hauptstadt von {land}?", "Wer war {who}?", "Warum ist der Himmel blau?"],
           "code": ["Wie schreibe ich eine Schleife in {lang}?", "Was ist eine Variable in {lang}?", "Wie lese ich eine Datei in {lang}?"],
           "writing": ["Schreibe ein kurzes Gedicht über {topic}.", "Schreibe eine kurze Nachricht an {whom}.", "Korrigiere diesen Satz: 'Ich habe gestern gegangen.'"],
           "general": ["Hallo, wie geht's dir heute?", "Guten Abend!", "Danke für deine Hilfe!", "Was soll ich am Wochenende machen?", "Tschüss, bis morgen!"]},
    "fr": {"math": ["Combien font {a} plus {b} ?", "Calcule {a} fois {b}.", "Combien font {c} divisé par {b} ?", "Résous {b}x = {c}."],
           "reasoning": ["{x} est plus grand que {y}, et {y} est plus grand que {z}. Qui est le plus petit ?", "Quel nombre vient ensuite : {a}, {a2}, {a3} ?",
                         "Tous les poissons nagent. Une truite est un poisson. Une truite nage-t-elle ?"],
           "knowledge": ["Quelle est la capitale de {pays} ?", "Qui était {who} ?", "Pourquoi les feuilles tombent-elles en automne ?"],
           "code": ["Comment écrire une boucle en {lang} ?", "Qu'est-ce qu'une fonction en {lang} ?", "Comment lire un fichier en {lang} ?"],
           "writing": ["Écris un court poème sur {sujet}.", "Écris un petit mot pour {qui}.", "Corrige cette phrase : 'Je suis aller au cinéma.'"],
           "general": ["Salut, comment ça va ?", "Bonne soirée !", "Merci pour ton aide !", "Que faire ce week-end ?", "À demain !"]},
    "es": {"math": ["¿Cuánto es {a} más {b}?", "Calcula {a} por {b}.", "¿Cuánto es {c} entre {b}?", "Resuelve {b}x = {c}."],
           "reasoning": ["{x} es mayor que {y} y {y} es mayor que {z}. ¿Quién es el menor?", "¿Qué número sigue: {a}, {a2}, {a3}?",
                         "Todos los perros son animales. Toby es un perro. ¿Es Toby un animal?"],
           "knowledge": ["¿Cuál es la capital de {pais}?", "¿Quién fue {who}?", "¿Por qué llueve?"],
           "code": ["¿Cómo escribo un bucle en {lang}?", "¿Qué es una función en {lang}?", "¿Cómo leo un archivo en {lang}?"],
           "writing": ["Escribe un poema corto sobre {tema}.", "Escribe una nota breve para {quien}.", "Corrige esta frase: 'Yo a ido al mercado.'"],
           "general": ["Hola, ¿qué tal tu día?", "¡Buenas tardes!", "¡Gracias por tu ayuda!", "¿Qué hago este fin de semana?", "¡Nos vemos mañana!"]},
    "it": {"math": ["Quanto fa {a} più {b}?", "Calcola {a} per {b}.", "Quanto fa {c} diviso {b}?"],
           "reasoning": ["{x} è più alto di {y} e {y} è più alto di {z}. Chi è il più basso?", "Quale numero viene dopo: {a}, {a2}, {a3}?"],
           "knowledge": ["Qual è la capitale della {paese}?", "Chi era {who}?"],
           "code": ["Come si scrive una funzione in {lang}?", "Come si legge un file in {lang}?"],
           "writing": ["Scrivi una breve poesia su {tema}.", "Scrivi un biglietto per {chi}."],
           "general": ["Ciao, come stai?", "Buona serata!", "Grazie dell'aiuto!", "Cosa faccio questo fine settimana?"]},
    "pt": {"math": ["Quanto é {a} mais {b}?", "Calcule {a} vezes {b}.", "Quanto é {c} dividido por {b}?"],
           "reasoning": ["{x} é mais velho que {y}, e {y} é mais velho que {z}. Quem é o mais novo?", "Qual número vem a seguir: {a}, {a2}, {a3}?"],
           "knowledge": ["Qual é a capital da {pais}?", "Quem foi {who}?"],
           "code": ["Como escrevo um loop em {lang}?", "Como leio um arquivo em {lang}?"],
           "writing": ["Escreva um poema curto sobre {tema}.", "Escreva um bilhete para {quem}."],
           "general": ["Oi, tudo bem?", "Boa noite!", "Obrigado pela ajuda!", "O que faço neste fim de semana?"]},
}
ML_FILL = {"land": ["Frankreich", "Italien", "Japan", "Kanada"], "pays": ["l'Espagne", "l'Allemagne", "du Japon", "du Canada"],
           "pais": ["Francia", "Alemania", "Japón", "Perú"], "paese": ["Francia", "Germania", "Spagna", "Grecia"],
           "topic": ["den Herbst", "das Meer", "eine Katze"], "sujet": ["l'hiver", "la pluie", "un chat"],
           "tema": ["el mar", "la lluvia", "il sole", "o outono"], "whom": ["meine Nachbarin", "meinen Chef"],
           "qui": ["ma voisine", "mon collègue"], "quien": ["mi abuela", "un compañero"], "chi": ["mia zia", "un amico"],
           "quem": ["minha tia", "um colega"], "who": ["Marie Curie", "Napoleon", "Frida Kahlo", "Goethe"]}

def multilingual(domain):
    out = set()
    for forms in (ML[lang].get(domain, []) for lang in ML):
        for form in forms:
            for _ in range(3):
                a, b = more_rng.randint(2, 19), more_rng.randint(2, 12)
                x, y, z = more_rng.sample(NAMES, 3)
                fill = {k: more_rng.choice(v) for k, v in ML_FILL.items()}
                out.add(form.format(a=a, b=b, c=a * b, a2=a * 2, a3=a * 4, x=x, y=y, z=z, lang=more_rng.choice(LANGS), **fill))
    return sorted(out)

MORE = {"code": more_code, "math": more_math, "reasoning": more_reasoning, "knowledge": more_knowledge,
        "writing": more_writing, "general": more_general}

def main():
    guard = ProbeGuard()
    rows, dropped = [], 0
    for domain, make in [("code", code), ("math", math), ("reasoning", reasoning), ("knowledge", knowledge),
                         ("writing", writing), ("general", general)]:
        base = make()
        # Kinds of request with a shape of their own get a task of their own, so the domain head gives
        # them a class of their own (a linear head cannot put puzzles and syllogisms in one direction).
        groups = [("", base + chatty(base) + MORE[domain]()), ("-multilingual", multilingual(domain))]
        if domain == "reasoning":
            groups.append(("-puzzles", numeric_puzzles()))
        k = 0
        for suffix, prompts in groups:
            for prompt in prompts:
                k += 1
                if guard.too_close(prompt):
                    dropped += 1
                    continue
                rows.append({"id": f"generated-easy:{domain}:{k - 1}", "source": "generated-easy",
                             "task": f"generated-easy/{domain}{suffix}", "domain": domain, "prompt": prompt,
                             "turns": [], "level": LEVEL, "outcomes": {}, "cost_usd": {}, "tokens": {}})
    write_jsonl(OUT, rows)
    print(f"wrote {len(rows)} rows to {OUT} ({dropped} dropped as equal or close to probe prompts)")

if __name__ == "__main__":
    main()
