//! Topic routing: a trie over binding-key words with RabbitMQ's rules — `*`
//! matches exactly one word, `#` zero or more, words may be empty.

use std::collections::HashMap;

/// Splits a routing or binding key into words as RabbitMQ does: the empty key has
/// no words, and every `.` separates two (possibly empty) words.
pub fn split_words(key: &str) -> Vec<&str> {
    if key.is_empty() {
        Vec::new()
    } else {
        key.split('.').collect()
    }
}

/// A trie of binding patterns; `T` identifies a binding's destination.
#[derive(Debug, Clone)]
pub struct TopicTrie<T> {
    root: Node<T>,
}

#[derive(Debug, Clone)]
struct Node<T> {
    words: HashMap<Box<str>, Node<T>>,
    star: Option<Box<Node<T>>>,
    hash: Option<Box<Node<T>>>,
    bound: Vec<T>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            words: HashMap::new(),
            star: None,
            hash: None,
            bound: Vec::new(),
        }
    }
}

impl<T> Default for TopicTrie<T> {
    fn default() -> Self {
        TopicTrie {
            root: Node::default(),
        }
    }
}

impl<T: PartialEq + Clone> TopicTrie<T> {
    /// Adds `value` under `pattern` (no-op if already there).
    pub fn insert(&mut self, pattern: &str, value: T) {
        let mut node = &mut self.root;
        for word in split_words(pattern) {
            node = match word {
                "*" => node.star.get_or_insert_with(Default::default),
                "#" => node.hash.get_or_insert_with(Default::default),
                w => node.words.entry(w.into()).or_default(),
            };
        }
        if !node.bound.contains(&value) {
            node.bound.push(value);
        }
    }

    /// Removes every value under `pattern` for which `matches` is true.
    pub fn remove(&mut self, pattern: &str, matches: impl Fn(&T) -> bool) {
        let words = split_words(pattern);
        Self::remove_at(&mut self.root, &words, &matches);
    }

    /// Returns true if the node became empty and can be pruned.
    fn remove_at(node: &mut Node<T>, words: &[&str], matches: &impl Fn(&T) -> bool) -> bool {
        match words.split_first() {
            None => node.bound.retain(|v| !matches(v)),
            Some((&"*", rest)) => {
                if let Some(child) = node.star.as_mut() {
                    if Self::remove_at(child, rest, matches) {
                        node.star = None;
                    }
                }
            }
            Some((&"#", rest)) => {
                if let Some(child) = node.hash.as_mut() {
                    if Self::remove_at(child, rest, matches) {
                        node.hash = None;
                    }
                }
            }
            Some((word, rest)) => {
                if let Some(child) = node.words.get_mut(*word) {
                    if Self::remove_at(child, rest, matches) {
                        node.words.remove(*word);
                    }
                }
            }
        }
        node.bound.is_empty() && node.words.is_empty() && node.star.is_none() && node.hash.is_none()
    }

    /// Removes every value for which `matches` is true, under any pattern.
    pub fn retain(&mut self, keep: &impl Fn(&T) -> bool) {
        Self::retain_at(&mut self.root, keep);
    }

    fn retain_at(node: &mut Node<T>, keep: &impl Fn(&T) -> bool) -> bool {
        node.bound.retain(keep);
        node.words.retain(|_, child| !Self::retain_at(child, keep));
        if node.star.as_mut().is_some_and(|c| Self::retain_at(c, keep)) {
            node.star = None;
        }
        if node.hash.as_mut().is_some_and(|c| Self::retain_at(c, keep)) {
            node.hash = None;
        }
        node.bound.is_empty() && node.words.is_empty() && node.star.is_none() && node.hash.is_none()
    }

    /// Calls `found` for every value whose pattern matches `routing_key` (a value
    /// bound under several matching patterns is reported once per pattern).
    pub fn matches(&self, routing_key: &str, found: &mut impl FnMut(&T)) {
        let words = split_words(routing_key);
        Self::walk(&self.root, &words, found);
    }

    fn walk(node: &Node<T>, words: &[&str], found: &mut impl FnMut(&T)) {
        if let Some(hash) = &node.hash {
            // `#` swallows zero or more words.
            for skip in 0..=words.len() {
                Self::walk(hash, &words[skip..], found);
            }
        }
        let Some((word, rest)) = words.split_first() else {
            node.bound.iter().for_each(&mut *found);
            return;
        };
        if let Some(star) = &node.star {
            Self::walk(star, rest, found);
        }
        if let Some(child) = node.words.get(*word) {
            Self::walk(child, rest, found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(patterns: &[&str], key: &str) -> Vec<usize> {
        let mut trie = TopicTrie::default();
        for (i, p) in patterns.iter().enumerate() {
            trie.insert(p, i);
        }
        let mut out = Vec::new();
        trie.matches(key, &mut |v| out.push(*v));
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn tutorial_patterns() {
        let p = ["*.orange.*", "*.*.rabbit", "lazy.#"];
        assert_eq!(routes(&p, "quick.orange.rabbit"), vec![0, 1]);
        assert_eq!(routes(&p, "lazy.orange.elephant"), vec![0, 2]);
        assert_eq!(routes(&p, "quick.orange.fox"), vec![0]);
        assert_eq!(routes(&p, "lazy.brown.fox"), vec![2]);
        assert_eq!(routes(&p, "lazy.pink.rabbit"), vec![1, 2]);
        assert_eq!(routes(&p, "quick.brown.fox"), Vec::<usize>::new());
        assert_eq!(routes(&p, "orange"), Vec::<usize>::new());
        assert_eq!(routes(&p, "quick.orange.male.rabbit"), Vec::<usize>::new());
        assert_eq!(routes(&p, "lazy.orange.male.rabbit"), vec![2]);
        assert_eq!(routes(&p, "lazy"), vec![2]);
    }

    #[test]
    fn hash_star_and_empty_words() {
        assert_eq!(routes(&["#"], ""), vec![0]);
        assert_eq!(routes(&["*"], ""), Vec::<usize>::new());
        assert_eq!(routes(&[""], ""), vec![0]);
        assert_eq!(routes(&["*"], "."), Vec::<usize>::new());
        assert_eq!(routes(&["*.*"], "."), vec![0]);
        assert_eq!(routes(&["a.#.b"], "a.b"), vec![0]);
        assert_eq!(routes(&["a.#.b"], "a.x.y.b"), vec![0]);
        assert_eq!(routes(&["#.#"], "a"), vec![0]);
        assert_eq!(routes(&["a.*.#"], "a"), Vec::<usize>::new());
        assert_eq!(routes(&["a..b"], "a..b"), vec![0]);
    }

    #[test]
    fn removal_prunes() {
        let mut trie = TopicTrie::default();
        trie.insert("a.*.c", 1);
        trie.insert("a.#", 2);
        trie.remove("a.*.c", |v| *v == 1);
        let mut out = Vec::new();
        trie.matches("a.b.c", &mut |v| out.push(*v));
        assert_eq!(out, vec![2]);
        trie.retain(&|v| *v != 2);
        assert!(trie.root.hash.is_none() && trie.root.words.is_empty());
    }
}
