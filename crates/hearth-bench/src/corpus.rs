//! Scenario 6's message texts: chat-like, with word frequencies that follow Zipf's law
//! as in any language, so a search meets the long posting lists of common words, the
//! short ones of rare words and everything between. What FTS5 sees is that
//! distribution, so past a head of real words the vocabulary is made-up words (Latin,
//! Hebrew and Arabic letters). Reproducible: one seed, one corpus.

use std::collections::HashSet;

use super::history::Rng;

/// Words in the vocabulary.
pub const VOCABULARY: usize = 5000;
/// Words per message, uniform in this range.
pub const MIN_WORDS: usize = 3;
pub const MAX_WORDS: usize = 30;
/// Zipf's exponent for words: about 1 in natural language.
const WORD_EXPONENT: f64 = 1.0;

/// The most frequent words, in order. Emoji are words to the writer but separators to
/// FTS5's unicode61 tokenizer (only letters, digits and private-use characters make
/// tokens), so they take frequency without being searchable.
const HEAD: &[&str] = &[
    "the",
    "i",
    "to",
    "a",
    "and",
    "you",
    "it",
    "is",
    "👍",
    "that",
    "we",
    "in",
    "for",
    "of",
    "on",
    "this",
    "be",
    "have",
    "so",
    "but",
    "not",
    "can",
    "with",
    "just",
    "are",
    "do",
    "if",
    "at",
    "was",
    "what",
    "שלום",
    "ok",
    "will",
    "me",
    "😂",
    "get",
    "there",
    "all",
    "now",
    "good",
    "thanks",
    "yes",
    "תודה",
    "no",
    "think",
    "know",
    "شكرا",
    "one",
    "about",
    "time",
    "مرحبا",
    "here",
    "today",
    "see",
    "like",
    "some",
    "need",
    "when",
    "out",
    "👋",
    "back",
    "new",
    "should",
    "from",
    "then",
    "work",
    "going",
    "cool",
    "still",
    "also",
    "meeting",
    "tomorrow",
    "build",
    "test",
    "sure",
    "let",
    "look",
    "please",
    "right",
    "morning",
    "thank",
    "pull",
    "request",
    "later",
    "week",
    "fix",
    "check",
    "lunch",
    "code",
    "review",
    "bug",
    "call",
    "yeah",
    "great",
    "make",
    "try",
    "again",
    "maybe",
    "release",
    "branch",
    "soon",
    "who",
    "🎉",
    "deploy",
    "people",
    "team",
    "nice",
    "done",
];

/// Real words placed lower down, at these ranks: the prefix query's family and a few
/// Hebrew and Arabic words that phrases use.
const PLACED: &[(&str, usize)] = &[
    ("טוב", 140),
    ("בוקר", 180),
    ("صباح", 220),
    ("الخير", 260),
    ("deployed", 400),
    ("deployment", 700),
    ("🙏", 900),
    ("deploying", 2000),
    ("deployer", 4000),
];

/// The rarest words, at the end of the vocabulary.
const TAIL: &[&str] = &["quixotic", "זנב", "نادر"];

/// Word pairs people write together: after the first, the second follows with this
/// probability (phrase queries need phrases that occur).
const COLLOCATIONS: &[(&str, &str, f64)] = &[
    ("good", "morning", 0.3),
    ("pull", "request", 0.6),
    ("thank", "you", 0.5),
    ("code", "review", 0.3),
    ("בוקר", "טוב", 0.6),
    ("صباح", "الخير", 0.6),
];

/// Draws ranks 0..n with P(rank r) proportional to 1 / (r + 1)^s.
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Zipf {
        let mut sum = 0.0;
        let mut cdf: Vec<f64> = (1..=n.max(1))
            .map(|r| {
                sum += (r as f64).powf(-s);
                sum
            })
            .collect();
        for c in &mut cdf {
            *c /= sum;
        }
        Zipf { cdf }
    }

    pub fn draw(&self, rng: &mut Rng) -> usize {
        let u = unit(rng);
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }

    /// The share of draws that give `rank`.
    pub fn share(&self, rank: usize) -> f64 {
        let below = rank.checked_sub(1).map_or(0.0, |r| self.cdf[r]);
        self.cdf[rank] - below
    }
}

/// Uniform in [0, 1).
pub fn unit(rng: &mut Rng) -> f64 {
    (rng.next() >> 11) as f64 / (1u64 << 53) as f64
}

/// Uniform in lo..=hi.
pub fn between(rng: &mut Rng, lo: usize, hi: usize) -> usize {
    lo + (rng.next() % (hi - lo + 1) as u64) as usize
}

pub struct Corpus {
    words: Vec<String>,
    /// Whether a word makes a token (emoji do not).
    token: Vec<bool>,
    /// After word i: the word that may follow it, and how likely.
    follow: Vec<Option<(usize, f64)>>,
    zipf: Zipf,
}

impl Corpus {
    pub fn new(seed: u64) -> Corpus {
        let mut rng = Rng(seed | 1);
        let real: HashSet<&str> = HEAD
            .iter()
            .chain(TAIL)
            .copied()
            .chain(PLACED.iter().map(|p| p.0))
            .collect();
        let mut seen: HashSet<String> = real.iter().map(|w| w.to_string()).collect();
        let mut words: Vec<String> = HEAD.iter().map(|w| w.to_string()).collect();
        while words.len() < VOCABULARY - TAIL.len() {
            let rank = words.len();
            if let Some((w, _)) = PLACED.iter().find(|p| p.1 == rank) {
                words.push(w.to_string());
                continue;
            }
            let w = made_up(&mut rng, rank);
            if seen.insert(w.clone()) {
                words.push(w);
            }
        }
        words.extend(TAIL.iter().map(|w| w.to_string()));
        let token = words
            .iter()
            .map(|w| w.chars().any(char::is_alphanumeric))
            .collect();
        let index = |w: &str| words.iter().position(|x| x == w);
        let mut follow = vec![None; words.len()];
        for (a, b, p) in COLLOCATIONS {
            if let (Some(a), Some(b)) = (index(a), index(b)) {
                follow[a] = Some((b, *p));
            }
        }
        Corpus {
            token,
            follow,
            zipf: Zipf::new(words.len(), WORD_EXPONENT),
            words,
        }
    }

    pub fn index(&self, word: &str) -> Option<usize> {
        self.words.iter().position(|w| w == word)
    }

    /// A message's text; `tokens` gets its searchable words, in order, as indices.
    pub fn message(&self, rng: &mut Rng, tokens: &mut Vec<usize>) -> String {
        tokens.clear();
        let n = between(rng, MIN_WORDS, MAX_WORDS);
        let mut text = String::new();
        let mut last: Option<usize> = None;
        for _ in 0..n {
            let w = match last.and_then(|l| self.follow[l]) {
                Some((next, p)) if unit(rng) < p => next,
                _ => self.zipf.draw(rng),
            };
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&self.words[w]);
            if self.token[w] {
                tokens.push(w);
            }
            last = Some(w);
        }
        // Sentence case and end punctuation, as people type them; neither changes tokens.
        if let Some(first) = text.chars().next().filter(char::is_ascii_lowercase) {
            text.replace_range(..1, &first.to_ascii_uppercase().to_string());
        }
        match rng.next() % 10 {
            0 | 1 => text.push('?'),
            2 => text.push('!'),
            3..=5 => text.push('.'),
            _ => {}
        }
        text
    }
}

/// A made-up word of 2 to 4 syllables: Latin letters mostly, Hebrew or Arabic letters
/// for one word in five.
fn made_up(rng: &mut Rng, rank: usize) -> String {
    const LATIN: &[&str] = &[
        "ka", "lo", "mi", "ren", "tas", "vu", "zel", "bri", "on", "sa", "te", "gor", "pi", "nu",
        "har", "el", "qua", "mo", "dis", "fen",
    ];
    const HEBREW: &[&str] = &["ב", "ג", "ד", "ל", "מ", "נ", "ר", "ש", "ת", "כ", "ה", "י"];
    const ARABIC: &[&str] = &["ب", "ت", "س", "ل", "م", "ن", "ر", "ك", "ع", "د", "ي", "و"];
    let (alphabet, parts) = match rank % 10 {
        3 => (HEBREW, between(rng, 3, 6)),
        7 => (ARABIC, between(rng, 3, 6)),
        _ => (LATIN, between(rng, 2, 4)),
    };
    (0..parts)
        .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_is_complete_and_reproducible() {
        let c = Corpus::new(7);
        assert_eq!(c.words.len(), VOCABULARY);
        let unique: HashSet<&String> = c.words.iter().collect();
        assert_eq!(unique.len(), VOCABULARY);
        assert_eq!(c.index("the"), Some(0));
        assert_eq!(c.index("deployed"), Some(400));
        assert_eq!(c.index("quixotic"), Some(VOCABULARY - TAIL.len()));
        // Only the family placed on purpose starts with the prefix query's letters.
        let deplo = c.words.iter().filter(|w| w.starts_with("deplo")).count();
        assert_eq!(deplo, 5);
        assert_eq!(Corpus::new(7).words, c.words);
        let (mut a, mut b) = (Rng(3), Rng(3));
        let mut t = Vec::new();
        assert_eq!(c.message(&mut a, &mut t), c.message(&mut b, &mut t));
    }

    #[test]
    fn zipf_follows_its_law() {
        let z = Zipf::new(1000, 1.0);
        let mut rng = Rng(99);
        let mut counts = vec![0u32; 1000];
        for _ in 0..200_000 {
            counts[z.draw(&mut rng)] += 1;
        }
        // Rank 1 is drawn about twice as often as rank 2, ten times as often as rank 10.
        let r = |a: usize, b: usize| f64::from(counts[a]) / f64::from(counts[b]);
        assert!((r(0, 1) - 2.0).abs() < 0.15, "{}", r(0, 1));
        assert!((r(0, 9) - 10.0).abs() < 1.5, "{}", r(0, 9));
        assert!((z.share(0) * 200_000.0 - f64::from(counts[0])).abs() < 1000.0);
    }

    #[test]
    fn messages_have_the_right_length_and_tokens() {
        let c = Corpus::new(1);
        let mut rng = Rng(5);
        let mut tokens = Vec::new();
        for _ in 0..1000 {
            let text = c.message(&mut rng, &mut tokens);
            let words = text.split(' ').count();
            assert!((MIN_WORDS..=MAX_WORDS).contains(&words), "{text}");
            assert!(tokens.len() <= words);
            assert!(tokens.iter().all(|&t| c.token[t]));
        }
    }
}
