"""The frontend reads ordinary English as a person would say it aloud."""
import pytest

from tts.normalize import normalize_text
from tts.text import split_sentences

SAID = [
    # initialisms: spelled, and no sentence break inside
    ("He moved to the U.S. in 1999.", "he moved to the u s in nineteen ninety nine."),
    ("The U.S.A. is big.", "the u s a is big."),
    ("I live in the U.S.", "i live in the u s."),
    ("The U.S. Army won.", "the u s army won."),
    ("She works at the U.N. in New York.", "she works at the u n in new york."),
    ("He has a Ph.D. in physics.", "he has a p h d in physics."),
    ("J. K. Rowling wrote it.", "j k rowling wrote it."),
    ("George W. Bush spoke.", "george w bush spoke."),
    ("The a.m. shift starts early.", "the a m shift starts early."),
    # titles and other abbreviations
    ("Mr. Smith met Dr. Jones.", "mister smith met doctor jones."),
    ("Mrs. Brown and Ms. Green came.", "missus brown and miz green came."),
    ("Prof. Higgins teaches.", "professor higgins teaches."),
    ("Capt. Kirk and Lt. Uhura", "captain kirk and lieutenant uhura"),
    ("Gen. Grant and Sgt. Pepper", "general grant and sergeant pepper"),
    ("Rev. King spoke to Gov. Brown.", "reverend king spoke to governor brown."),
    ("St. Louis is on the river.", "saint louis is on the river."),
    ("I love St. Louis.", "i love saint louis."),
    ("We met on Main St. in town.", "we met on main street in town."),
    ("We met on Main St. Then we left.", "we met on main street. then we left."),
    ("Mt. Everest is tall.", "mount everest is tall."),
    ("Smith Jr. was there.", "smith junior was there."),
    ("Acme Inc. is big.", "acme incorporated is big."),
    ("Acme Inc. He left.", "acme incorporated. he left."),
    ("Apples, pears, etc.", "apples, pears, et cetera."),
    ("Cats vs. dogs", "cats versus dogs"),
    ("Room No. 7", "room number seven"),
    ("I said no.", "i said no."),
    ("Fruit, e.g. apples, i.e. food.", "fruit, for example apples, that is food."),
    ("See Fig. 3 for details.", "see figure three for details."),
    # months and dates
    ("Jan. 2021", "january twenty twenty one"),
    ("It was Jan. The end.", "it was january. the end."),
    ("On Jan. 5, 2021 we met.", "on january fifth, twenty twenty one we met."),
    ("Dec. 25th is Christmas.", "december twenty fifth is christmas."),
    ("March 3 is fine.", "march third is fine."),
    ("Sept. 11, 2001", "september eleventh, two thousand one"),
    ("Feb. 29 comes rarely.", "february twenty ninth comes rarely."),
    ("Oct 31", "october thirty first"),
    ("In May 2020 it rained.", "in may twenty twenty it rained."),
    ("Aug. 1st", "august first"),
    # times
    ("Meet at 3:30pm.", "meet at three thirty p m."),
    ("Meet at 3:30 p.m. tomorrow.", "meet at three thirty p m tomorrow."),
    ("Meet at 3 p.m. Bring food.", "meet at three p m. bring food."),
    ("Meet at 11am", "meet at eleven a m"),
    ("It's 9:05 AM", "it's nine oh five a m"),
    ("The train left at 12:00.", "the train left at twelve o'clock."),
    ("At 7:45 we ate.", "at seven forty five we ate."),
    ("Wake at 6 AM.", "wake at six a m."),
    ("It ends at 10:10 pm.", "it ends at ten ten p m."),
    # years
    ("In 1066 they came.", "in ten sixty six they came."),
    ("In 2021 it happened.", "in twenty twenty one it happened."),
    ("In 2000 it happened.", "in two thousand it happened."),
    ("In 2005 it happened.", "in two thousand five it happened."),
    ("In 1905 it happened.", "in nineteen oh five it happened."),
    ("In 1900.", "in nineteen hundred."),
    ("In 1984, things changed.", "in nineteen eighty four, things changed."),
    ("By 2050 we will know.", "by twenty fifty we will know."),
    ("In 1492 Columbus sailed.", "in fourteen ninety two columbus sailed."),
    ("In 2010 and 2099.", "in twenty ten and twenty ninety nine."),
    # phone numbers
    ("Call 555-1234 now.", "call five five five, one two three four now."),
    ("Call (555) 123-4567.", "call five five five, one two three, four five six seven."),
    ("Call 1-800-555-1234.", "call one, eight zero zero, five five five, one two three four."),
    ("Dial 555-0000.", "dial five five five, zero zero zero zero."),
    # fractions
    ("Only 1/2 of them came.", "only one half of them came."),
    ("Use 3/4 of the flour.", "use three quarters of the flour."),
    ("Add 2 1/2 cups.", "add two and a half cups."),
    ("Mix 1/3 and 2/3.", "mix one third and two thirds."),
    ("About 1/4 of them", "about one quarter of them"),
    ("It is 5/8 of an inch.", "it is five eighths of an inch."),
    ("Open 24/7.", "open twenty four seven."),
    # ordinals
    ("the 21st century", "the twenty first century"),
    ("the 2nd and 3rd place", "the second and third place"),
    ("his 100th birthday", "his one hundredth birthday"),
    ("the 11th hour", "the eleventh hour"),
    # decades
    ("the 1800s", "the eighteen hundreds"),
    ("the 90s", "the nineties"),
    ("the '80s", "the eighties"),
    ("the 1990s", "the nineteen nineties"),
    ("in her 20s", "in her twenties"),
    ("the 2010s", "the twenty tens"),
    # currencies
    ("It costs $5.", "it costs five dollars."),
    ("It costs $3.50.", "it costs three dollars and fifty cents."),
    ("It costs $0.99.", "it costs ninety nine cents."),
    ("It costs $1.", "it costs one dollar."),
    ("It costs £10 or €20.50.", "it costs ten pounds or twenty euros and fifty cents."),
    ("It raised $2.5 million.", "it raised two point five million dollars."),
    ("It is worth $1,000,000.", "it is worth one million dollars."),
    ("It costs £2.05.", "it costs two pounds and five pence."),
    ("The deal was $3 billion.", "the deal was three billion dollars."),
    ("It costs $1,250.", "it costs one thousand two hundred fifty dollars."),
    # percentages and plain numbers
    ("50% off", "fifty percent off"),
    ("2.5% interest", "two point five percent interest"),
    ("1,500 people came.", "one thousand five hundred people came."),
    ("It has 42 pages.", "it has forty two pages."),
    ("Pi is 3.14.", "pi is three point one four."),
    ("Pages 5-10", "pages five to ten"),
    ("It's -5 degrees.", "it's minus five degrees."),
    ("About 7 billion people", "about seven billion people"),
    ("A 1,000-page book", "a one thousand page book"),
    # units
    ("It's 5 km away.", "it's five kilometers away."),
    ("Only 1 km left.", "only one kilometer left."),
    ("It weighs 2.5 kg.", "it weighs two point five kilograms."),
    ("It's 20°C today.", "it's twenty degrees celsius today."),
    ("It's -5°C.", "it's minus five degrees celsius."),
    ("It's 98.6°F.", "it's ninety eight point six degrees fahrenheit."),
    ("He is 6 ft. tall.", "he is six feet tall."),
    ("Drive at 100 mph.", "drive at one hundred miles per hour."),
    ("Wait 5 min.", "wait five minutes."),
    ("Add 250 ml of milk.", "add two hundred fifty milliliters of milk."),
    ("It is 10 cm long.", "it is ten centimeters long."),
    ("It uses 60 W.", "it uses sixty watts."),
    ("The file is 2 GB.", "the file is two gigabytes."),
    ("Turn 90° left.", "turn ninety degrees left."),
    ("Run 5km.", "run five kilometers."),
    ("Take 500 mg daily.", "take five hundred milligrams daily."),
    # e-mail addresses and URLs
    ("Email me at john.smith@example.com.", "email me at john dot smith at example dot com."),
    ("Write to info@acme.org today.", "write to info at acme dot org today."),
    ("Visit www.example.com today.", "visit w w w dot example dot com today."),
    ("Go to https://github.com/user/repo.", "go to github dot com slash user slash repo."),
    ("See example.co.uk for more.", "see example dot co dot u k for more."),
    ("Try openai.io now.", "try openai dot i o now."),
    ("Read http://my-site.net/about", "read my dash site dot net slash about"),
    # symbols and punctuation
    ("Tom & Jerry", "tom and jerry"),
    ("Wait... what?!", "wait. what!"),
    ("Café crème", "cafe creme"),
    ("Rock-and-roll", "rock and roll"),
    ("He said \"hello\".", "he said hello."),
]


@pytest.mark.parametrize("written, said", SAID)
def test_written_text_is_read_as_said(written, said):
    assert normalize_text(written) == said
    assert normalize_text(said) == said  # idempotent: chunks are re-normalised


def test_table_is_large_and_has_no_duplicates():
    assert len(SAID) >= 100 and len({w for w, _ in SAID}) == len(SAID)


def test_sentences_never_split_inside_abbreviations_or_initialisms():
    text = "Mr. Smith of the U.S. Army met Dr. Jones at 3 p.m. on Jan. 5. They spoke. St. Louis won!"
    assert split_sentences(normalize_text(text)) == [
        "mister smith of the u s army met doctor jones at three p m on january fifth.", "they spoke.",
        "saint louis won!"]
