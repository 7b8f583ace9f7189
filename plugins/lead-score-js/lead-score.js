// A wasmhook custom code action written in JavaScript: scores a lead from what the
// webhook brought in. Built into a WebAssembly component by componentize-js against the
// `action` world of wit/plugin.wit (see docs/plugins.md).
//
// WIT values arrive as `{ tag, val }`: tag is 'null', 'string', 'number' or 'boolean'.
// Return the outputs as a list of `{ name, value }`; throw `{ code, message }` to fail the
// step with that reason. `console.log` lines go to the enrollment's step log.

const FREE_MAIL = new Set(['gmail.com', 'yahoo.com', 'hotmail.com', 'outlook.com', 'icloud.com']);
const PLAN_POINTS = { free: 0, starter: 20, pro: 40, enterprise: 60 };

/** The input `name` as a plain JS value (undefined when absent or null). */
function input(inputs, name) {
  const found = inputs.find((p) => p.name === name);
  return found && found.value.tag !== 'null' ? found.value.val : undefined;
}

function text(val) {
  return { tag: 'string', val };
}

function number(val) {
  return { tag: 'number', val };
}

export const actor = {
  run(ctx, inputs, secrets) {
    const email = input(inputs, 'email');
    if (typeof email !== 'string' || !email.includes('@')) {
      throw { code: 'missing_input', message: 'input `email` (an e-mail address) is required' };
    }
    const domain = email.slice(email.lastIndexOf('@') + 1).toLowerCase();
    const plan = String(input(inputs, 'plan') ?? 'free').toLowerCase();
    const seats = Number(input(inputs, 'seats') ?? 1);

    let score = 10 + (PLAN_POINTS[plan] ?? 0) + Math.min(Math.max(seats, 0) * 2, 30);
    if (!FREE_MAIL.has(domain)) {
      score += 20;
    }
    score = Math.min(score, 100);
    const tier = score >= 70 ? 'hot' : score >= 40 ? 'warm' : 'cold';
    console.log(`event ${ctx.eventId}: ${domain} on ${plan} with ${seats} seats scores ${score} (${tier})`);
    return [
      { name: 'score', value: number(score) },
      { name: 'tier', value: text(tier) },
      { name: 'domain', value: text(domain) },
    ];
  },
};
