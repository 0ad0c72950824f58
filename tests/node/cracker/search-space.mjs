// The search space of the hash cracker: every word of `length` letters from
// `alphabet`, numbered 0 .. alphabet.length ** length - 1.
import { createHash } from "node:crypto";

/** The SHA-256 of a word, as lower-case hex. */
export function sha256(word) {
  return createHash("sha256").update(word).digest("hex");
}

/** The word with number `index` (its letters are the index's digits in base alphabet.length). */
export function wordAt(index, alphabet, length) {
  let word = "";
  let rest = index;
  for (let i = 0; i < length; i++) {
    word = alphabet[rest % alphabet.length] + word;
    rest = Math.floor(rest / alphabet.length);
  }
  return word;
}

/** The words numbered start .. end - 1 whose SHA-256 is target. */
export function searchRange({ start, end, alphabet, length, target }) {
  const found = [];
  for (let index = start; index < end; index++) {
    const word = wordAt(index, alphabet, length);
    if (sha256(word) === target) found.push(word);
  }
  return found;
}
