//! The topic trie routes exactly like a straightforward reference matcher of
//! RabbitMQ's rules (`*` = exactly one word, `#` = zero or more words, words
//! may be empty), over generated keys and patterns.

use proptest::prelude::*;
use warren_core::exchange::topic::{split_words, TopicTrie};

/// Reference: backtracking over the word lists, no trie.
fn reference(pattern: &[&str], key: &[&str]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((&"#", rest)) => (0..=key.len()).any(|skip| reference(rest, &key[skip..])),
        Some((&"*", rest)) => !key.is_empty() && reference(rest, &key[1..]),
        Some((word, rest)) => key.first() == Some(word) && reference(rest, &key[1..]),
    }
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("a".into()),
        Just("b".into()),
        Just("ab".into())
    ]
}

fn pattern_word() -> impl Strategy<Value = String> {
    prop_oneof![3 => word(), 1 => Just("*".into()), 1 => Just("#".into())]
}

fn join(words: Vec<String>) -> String {
    words.join(".")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn trie_matches_reference(
        patterns in prop::collection::vec(prop::collection::vec(pattern_word(), 0..6).prop_map(join), 1..12),
        keys in prop::collection::vec(prop::collection::vec(word(), 0..7).prop_map(join), 1..12),
    ) {
        let mut trie = TopicTrie::default();
        for (i, p) in patterns.iter().enumerate() {
            trie.insert(p, i);
        }
        for key in &keys {
            let mut got = Vec::new();
            trie.matches(key, &mut |i: &usize| got.push(*i));
            got.sort();
            got.dedup();
            let want: Vec<usize> = patterns
                .iter()
                .enumerate()
                .filter(|(_, p)| reference(&split_words(p), &split_words(key)))
                .map(|(i, _)| i)
                .collect();
            prop_assert_eq!(got, want, "key {:?} patterns {:?}", key, patterns);
        }
    }
}

#[test]
fn hash_at_every_position() {
    let key = "a.b.c";
    for pattern in [
        "#.a.b.c", "a.#.b.c", "a.b.#.c", "a.b.c.#", "#", "#.#.#", "a.#.c", "#.c",
    ] {
        let mut trie = TopicTrie::default();
        trie.insert(pattern, ());
        let mut hit = false;
        trie.matches(key, &mut |_| hit = true);
        assert!(hit, "{pattern} should match {key}");
        assert!(reference(&split_words(pattern), &split_words(key)));
    }
}
