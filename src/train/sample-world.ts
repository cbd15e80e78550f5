import { Random, WeightedChoice } from "./prng.js";

/**
 * The fixed "city" behind the synthetic trips: zone positions, popularity and traffic effects.
 * It comes from a constant seed, not the caller's, so that months generated with different
 * seeds are different samples of the same city (a model trained on one month must carry over
 * to the next, as with real TLC data).
 */
export const ZONE_COUNT = 265;
const WORLD_SEED = 0x7a3e_2021;
/** Miles over which the pull of a dropoff zone halves-ish (exp(-d/L)): most rides are short. */
const TRIP_SCALE_MILES = 1.2;
/** Extra pull of the pickup zone itself: rides within one zone are common. */
const SAME_ZONE_BOOST = 3;

export interface SampleWorld {
  /** Zone centres in miles; index 0 is unused so that zone ids index directly. */
  x: Float64Array;
  y: Float64Array;
  /** Zones in the congestion-surcharge area (Manhattan south of 96th St in the real data). */
  congestionZone: Uint8Array;
  /** Log-pace offset of each zone (slow streets, fast highways). */
  zoneEffect: Float64Array;
  /** Log-pace offset of each (pickup, dropoff) route, indexed pu * (ZONE_COUNT + 1) + do. */
  routeEffect: Float64Array;
  pickup: WeightedChoice;
  /** For each pickup zone, where its rides go (a gravity model: popular and near zones pull). */
  dropoff: WeightedChoice[];
  /** Log-pace offset by hour of day (rush hours are slow, nights are fast). */
  hourEffect: Float64Array;
  /** Relative number of pickups in each hour of the day. */
  hourChoice: WeightedChoice;
  /** Unnormalized pickup popularity and dropoff attraction by zone (what a shift moves). */
  pickupWeights: Float64Array;
  attraction: Float64Array;
}

let cached: SampleWorld | undefined;

export function sampleWorld(): SampleWorld {
  cached ??= buildWorld();
  return cached;
}

function buildWorld(): SampleWorld {
  const random = new Random(WORLD_SEED);
  const size = ZONE_COUNT + 1;
  const x = new Float64Array(size);
  const y = new Float64Array(size);
  const congestionZone = new Uint8Array(size);
  const zoneEffect = new Float64Array(size);
  for (let zone = 1; zone <= ZONE_COUNT; zone++) {
    x[zone] = random.uniform(0, 14);
    y[zone] = random.uniform(0, 18);
    congestionZone[zone] = x[zone] > 5 && x[zone] < 8 && y[zone] > 8 && y[zone] < 13 ? 1 : 0;
    zoneEffect[zone] = 0.15 * random.normal() + (congestionZone[zone] ? 0.25 : 0);
  }

  const routeEffect = new Float64Array(size * size);
  for (let i = 0; i < routeEffect.length; i++) routeEffect[i] = 0.12 * random.normal();

  // Zipf-like popularity over a shuffled zone order: a handful of zones (the real 74, 75, 41,
  // 166 …) take most green-taxi pickups, and dropoffs are spread more widely.
  const pickupWeights = zipfWeights(random, 1.1);
  const pickup = new WeightedChoice(pickupWeights);
  const attraction = zipfWeights(random, 0.7);
  const dropoff = dropoffChoices(x, y, pickup, attraction, TRIP_SCALE_MILES);

  const hourlyPickups = [
    3, 2, 1.5, 1, 1, 1.5, 3, 5, 6, 5.5, 5, 5.5, 6, 6, 6.5, 7, 7.5, 7.5, 7, 6, 5, 4.5, 4, 3.5,
  ];
  const hourEffect = Float64Array.from({ length: 24 }, (_, hour) =>
    hour >= 7 && hour <= 9 ? 0.15 : hour >= 15 && hour <= 18 ? 0.2 : hour <= 5 ? -0.2 : 0,
  );

  return {
    x,
    y,
    congestionZone,
    zoneEffect,
    routeEffect,
    pickup,
    dropoff,
    hourEffect,
    hourChoice: new WeightedChoice(hourlyPickups),
    pickupWeights,
    attraction,
  };
}

/** For each pickup zone, where its rides go: popular and near zones pull (a gravity model). */
function dropoffChoices(
  x: Float64Array,
  y: Float64Array,
  pickup: WeightedChoice,
  attraction: Float64Array,
  tripScaleMiles: number,
): WeightedChoice[] {
  // Index 0 is a placeholder so that zone ids index directly (no zone 0 is ever drawn).
  const dropoff: WeightedChoice[] = [pickup];
  for (let from = 1; from <= ZONE_COUNT; from++) {
    const weights = new Float64Array(ZONE_COUNT + 1);
    for (let to = 1; to <= ZONE_COUNT; to++) {
      const pull =
        attraction[to] * Math.exp(-Math.sqrt(distance2(x, y, from, to)) / tripScaleMiles);
      weights[to] = to === from ? pull * SAME_ZONE_BOOST : pull;
    }
    dropoff.push(new WeightedChoice(weights));
  }
  return dropoff;
}

/** Seed of the "other city" a shift moves towards: constant, so a shifted month is reproducible. */
const SHIFT_SEED = 0x5f1f_7ed0;
/** At full shift, rides reach this many times farther (the gravity model's distance scale). */
const SHIFT_TRIP_SCALE = 3;
const shiftedWorlds = new Map<number, SampleWorld>();

/**
 * The same city with its demand moved, for drift demonstrations: `shift` (0–1) mixes the
 * pickup popularity and dropoff attraction with another, independent ranking of the zones (so
 * rides start and end in zones that were quiet: zone pairs a model never saw) and stretches
 * the distance scale of the gravity model up to SHIFT_TRIP_SCALE times (longer trips). Zone
 * positions, paces and hours are unchanged: the model's errors grow because the rides moved,
 * not because the city did. 0 is the unshifted world itself.
 */
export function shiftedWorld(shift: number): SampleWorld {
  if (!(shift >= 0 && shift <= 1)) throw new RangeError(`shift must be from 0 to 1, got ${shift}`);
  const base = sampleWorld();
  if (shift === 0) return base;
  let world = shiftedWorlds.get(shift);
  if (world === undefined) {
    const random = new Random(SHIFT_SEED);
    const pickupWeights = mix(base.pickupWeights, zipfWeights(random, 1.1), shift);
    const attraction = mix(base.attraction, zipfWeights(random, 0.7), shift);
    const pickup = new WeightedChoice(pickupWeights);
    const scale = TRIP_SCALE_MILES * (1 + (SHIFT_TRIP_SCALE - 1) * shift);
    world = {
      ...base,
      pickup,
      dropoff: dropoffChoices(base.x, base.y, pickup, attraction, scale),
      pickupWeights,
      attraction,
    };
    shiftedWorlds.set(shift, world);
  }
  return world;
}

/** (1 − t)·a + t·b, each normalized to sum 1 first so that neither side dominates by scale. */
function mix(a: Float64Array, b: Float64Array, t: number): Float64Array {
  const sum = (w: Float64Array) => w.reduce((s, v) => s + v, 0);
  const sa = sum(a);
  const sb = sum(b);
  return a.map((v, i) => ((1 - t) * v) / sa + (t * b[i]) / sb);
}

/** Weights indexed by zone id (0 unused): rank r of a random permutation gets 1 / r^exponent. */
function zipfWeights(random: Random, exponent: number): Float64Array {
  const order = random.shuffle(Array.from({ length: ZONE_COUNT }, (_, i) => i + 1));
  const weights = new Float64Array(ZONE_COUNT + 1);
  order.forEach((zone, rank) => {
    weights[zone] = 1 / Math.pow(rank + 1, exponent);
  });
  return weights;
}

function distance2(x: Float64Array, y: Float64Array, a: number, b: number): number {
  return (x[a] - x[b]) ** 2 + (y[a] - y[b]) ** 2;
}

/** Straight-line distance between two zone centres, in miles. */
export function zoneDistance(world: SampleWorld, a: number, b: number): number {
  return Math.sqrt(distance2(world.x, world.y, a, b));
}
