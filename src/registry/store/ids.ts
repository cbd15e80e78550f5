import { randomInt, randomUUID } from "node:crypto";

/** 32 lowercase hex characters, as MLflow's run ids. */
export function newId(): string {
  return randomUUID().replaceAll("-", "");
}

const ADJECTIVES = (
  "amber bold brave bright calm clever crisp dapper eager fast gentle glad grand happy keen " +
  "kind lively lucky merry mighty nimble noble proud quick quiet rapid sharp shiny silent " +
  "smooth steady sunny swift tidy vivid warm wise witty young zesty"
).split(" ");
const NOUNS = (
  "badger bat bear bison cat crane crow deer dolphin eagle falcon finch fox frog gull hare " +
  "hawk heron ibis koala lark lion lynx mole moose newt otter owl panda puffin raven robin " +
  "seal shrike snail stork swan tiger whale wren"
).split(" ");

/** A readable default run name such as "swift-otter-042" (not unique; ids are). */
export function generateRunName(): string {
  const adjective = ADJECTIVES[randomInt(ADJECTIVES.length)];
  const noun = NOUNS[randomInt(NOUNS.length)];
  return `${adjective}-${noun}-${String(randomInt(1000)).padStart(3, "0")}`;
}
