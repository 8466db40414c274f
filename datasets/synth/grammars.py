"""The grammars of the spoken-sentence corpus, as data (see ``datasets.synth.grammar``).

``home`` is the default: requests to a voice assistant at home (switch devices, timers and
alarms, calls and messages, weather, shopping, directions) and everyday phrases, over a
vocabulary of about four hundred words, numbers and times spelled as words the way they are
spoken. ``mini`` is a twenty-word corner of it for tests: small enough that a few dozen sentences
say every word.

Words are chosen to be spoken unambiguously by eSpeak NG as written (no abbreviations or
acronyms, which it would spell out), so the text it reads is the transcript.
"""

from __future__ import annotations

from datasets.synth.grammar import Grammar

HOME: dict[str, tuple[str, ...]] = {
    "sentence": (
        "<switch> the <device> <room>",
        "please <switch> the <device> <room>",
        "<switch> the <device> <when>",
        "<open_verb> the <opening> <room>",
        "can you <open_verb> the <opening> please",
        "set a timer for <count> <time_unit>",
        "set an alarm for <clock_time> <day_part>",
        "wake me up at <clock_time> <day_part>",
        "remind me to <chore> <when>",
        "don't forget to <chore> <when>",
        "call <name> at <clock_time>",
        "call my <relative> <when>",
        "dial <digit0> <digit0> <digit0> <digit0> <digit0>",
        "send a message to <name> saying <message>",
        "tell <name> that <message>",
        "play some <genre> music <room>",
        "turn the volume <up_down>",
        "set the temperature to <count> degrees",
        "set the <device> to <count> percent",
        "what is the weather like in <city> <when>",
        "will it <weather> in <city> <when>",
        "what time is it in <city>",
        "how long does it take to get to the <destination>",
        "navigate to the nearest <destination>",
        "let's go to the <destination> <when>",
        "i'm going to the <destination> <when>",
        "add <food> to the shopping list",
        "add <food> and <food> to the shopping list",
        "how many <food> are left",
        "i would like <portion> of <drink> please",
        "book a table for <count> people on <weekday>",
        "meet <name> on <weekday> at <clock_time>",
        "my <relative> is coming <when>",
        "the <color> <thing> is <position> the <furniture>",
        "put the <thing> <position> the <furniture>",
        "move the <furniture> to the <room_name>",
        "where did i leave my <personal_item>",
        "help me find my <personal_item>",
        "<greeting> <name>",
        "<greeting> how are you today",
        "thank you very much <name>",
        "show me <media> from <month>",
        "read my <inbox> <when>",
        "start a <activity> workout for <count> minutes",
        "the meeting with <name> is at <clock_time>",
        "the party for <name> is on the <ordinal> of <month>",
    ),
    # numbers as spoken: one to ninety nine, and a hundred
    "count": ("<digit>", "<teen>", "<tens>", "<tens> <digit>", "one hundred"),
    "digit": ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    "digit0": ("zero", "oh", "<digit>"),
    "teen": (
        "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
        "eighteen", "nineteen",
    ),
    "tens": ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"),
    "ordinal": (
        "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
        "tenth", "eleventh", "twelfth", "twentieth", "thirtieth",
    ),
    "hour": (
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve",
    ),
    "clock_time": (
        "<hour> o'clock",
        "<hour> <minute>",
        "half past <hour>",
        "quarter past <hour>",
        "quarter to <hour>",
        "noon",
        "midnight",
    ),
    "minute": ("fifteen", "thirty", "forty five", "oh <digit>", "<minute_tens> <digit>"),
    "minute_tens": ("twenty", "thirty", "forty", "fifty"),
    "day_part": (
        "in the morning", "in the afternoon", "in the evening", "at night", "tomorrow", "",
    ),
    "when": (
        "today",
        "tomorrow",
        "tonight",
        "this morning",
        "this afternoon",
        "this evening",
        "this weekend",
        "next week",
        "on <weekday>",
        "next <weekday>",
        "in <count> <time_unit>",
        "at <clock_time>",
        "",
    ),
    "time_unit": ("seconds", "minutes", "hours", "days", "weeks"),
    "weekday": ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
    "month": (
        "january", "february", "march", "april", "may", "june", "july", "august", "september",
        "october", "november", "december",
    ),
    "switch": ("turn on", "turn off", "switch on", "switch off", "dim", "check"),
    "device": (
        "lights", "lamp", "fan", "heater", "radio", "television", "oven", "kettle",
        "coffee machine", "dishwasher", "washing machine", "air conditioner", "computer",
        "printer", "speaker", "camera", "microwave", "fridge", "alarm", "music",
    ),
    "room": ("in the <room_name>", "upstairs", "downstairs", "everywhere", ""),
    "room_name": (
        "kitchen", "bedroom", "living room", "bathroom", "garage", "garden", "office", "hallway",
        "basement", "dining room", "nursery", "attic", "cellar", "guest room",
    ),
    "open_verb": ("open", "close", "lock", "unlock", "shut"),
    "opening": (
        "door", "window", "front door", "back door", "garage door", "curtains", "blinds", "gate",
        "shutters",
    ),
    "chore": (
        "buy <food>",
        "call <name>",
        "water the plants",
        "feed the cat",
        "walk the dog",
        "take out the trash",
        "pay the bills",
        "clean the <room_name>",
        "pick up <name> from school",
        "take my medicine",
        "book a doctor's appointment",
        "charge my phone",
        "wash the car",
        "send the report",
        "cook dinner",
        "do the laundry",
    ),
    "name": (
        "alice", "bob", "carol", "david", "emma", "frank", "grace", "henry", "isabel", "jack",
        "kate", "liam", "maria", "nathan", "olivia", "peter", "rachel", "sam", "thomas",
        "victor", "wendy", "zoe", "george", "hannah", "james", "laura", "michael", "nina",
        "oscar", "sophia", "daniel", "lucy", "max", "ruby", "ben", "chloe", "leo", "mia", "adam",
        "eva",
    ),
    "relative": (
        "mother", "father", "sister", "brother", "grandmother", "grandfather", "aunt", "uncle",
        "cousin", "friend", "neighbour", "boss", "son", "daughter", "wife", "husband",
    ),
    "message": (
        "i am running late",
        "i will be home soon",
        "dinner is ready",
        "see you <when>",
        "call me back",
        "the meeting is cancelled",
        "happy birthday",
        "i love you",
        "where are you",
        "i'm on my way",
        "don't wait for me",
        "let's meet at the <destination>",
    ),
    "genre": (
        "jazz", "rock", "classical", "pop", "country", "blues", "relaxing", "dance", "folk",
        "piano", "guitar", "happy",
    ),
    "up_down": ("up", "down", "up a little", "down a little", "all the way up", "all the way down"),
    "city": (
        "london", "paris", "berlin", "tokyo", "madrid", "rome", "boston", "chicago", "sydney",
        "toronto", "dublin", "vienna", "oslo", "cairo", "lisbon", "seattle", "denver", "miami",
        "prague", "amsterdam",
    ),
    "weather": ("rain", "snow", "be sunny", "be windy", "be cold", "be warm", "be cloudy"),
    "destination": (
        "station", "airport", "office", "school", "hospital", "library", "museum", "park",
        "beach", "gym", "bank", "bakery", "pharmacy", "supermarket", "post office", "cinema",
        "restaurant", "hotel", "market", "stadium",
    ),
    "food": (
        "apples", "bananas", "oranges", "eggs", "bread", "milk", "cheese", "butter", "rice",
        "pasta", "tomatoes", "potatoes", "onions", "carrots", "lemons", "grapes", "cookies",
        "yogurt", "chicken", "fish", "beans", "cereal", "honey", "sugar", "flour", "peppers",
        "mushrooms", "strawberries", "chocolate", "soup",
    ),
    "portion": ("a cup", "a glass", "a bottle", "a pot", "two cups", "a large glass", "a little"),
    "drink": (
        "coffee", "tea", "water", "milk", "orange juice", "apple juice", "lemonade",
        "hot chocolate", "sparkling water", "green tea",
    ),
    "color": (
        "red", "blue", "green", "yellow", "black", "white", "brown", "purple", "pink", "grey",
        "silver", "golden",
    ),
    "thing": (
        "book", "cup", "box", "bag", "hat", "pen", "key", "ball", "plate", "bottle", "jacket",
        "umbrella", "wallet", "bowl", "towel", "pillow", "blanket", "toy", "candle", "basket",
    ),
    "position": ("on", "under", "behind", "next to", "in front of", "near", "inside", "beside"),
    "furniture": (
        "table", "chair", "sofa", "bed", "desk", "shelf", "cupboard", "window", "door",
        "bookcase", "counter", "wardrobe", "drawer", "fireplace",
    ),
    "personal_item": (
        "keys", "phone", "wallet", "glasses", "umbrella", "bag", "jacket", "watch", "headphones",
        "passport", "charger", "shoes", "gloves", "scarf",
    ),
    "greeting": (
        "hello", "hi", "good morning", "good afternoon", "good evening", "good night", "goodbye",
        "welcome back",
    ),
    "media": ("photos", "pictures", "videos", "my photos", "the pictures"),
    "inbox": ("messages", "emails", "news", "notes", "calendar"),
    "activity": ("running", "walking", "cycling", "yoga", "rowing", "swimming", "stretching"),
}  # fmt: skip

MINI: dict[str, tuple[str, ...]] = {
    "sentence": ("<switch> the <device>", "call <name>", "set a timer for <digit> minutes"),
    "switch": ("turn on", "turn off"),
    "device": ("lights", "radio", "fan"),
    "name": ("alice", "bob"),
    "digit": ("one", "two", "three", "four", "five"),
}

GRAMMARS: dict[str, Grammar] = {"home": Grammar(HOME), "mini": Grammar(MINI)}
