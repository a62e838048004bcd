import { useState } from 'preact/hooks';
import { call } from '../api.js';
import { ErrorNote, Field, fieldsOf } from '../common.js';
import { useI18n } from '../i18n/index.js';
import { href } from '../router.js';
import type { Endpoint } from './webhooks.js';

/**
 * Creates an endpoint (no `endpoint`; its secret is then shown once) or edits one's name, URL,
 * events and description: the same form.
 */
export function EndpointForm({ endpoint, onSaved }: { endpoint?: Endpoint; onSaved: () => void }) {
  const { t } = useI18n();
  const [name, setName] = useState(endpoint?.name ?? '');
  const [url, setUrl] = useState(endpoint?.url ?? '');
  const [events, setEvents] = useState((endpoint?.eventTypes ?? ['*']).join(', '));
  const [description, setDescription] = useState(endpoint?.description ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [created, setCreated] = useState<Endpoint>();
  const [saved, setSaved] = useState(false);
  const prefix = endpoint ? 'endpoint-edit' : 'endpoint';
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    setSaved(false);
    const body = {
      name,
      url,
      eventTypes: events
        .split(/[,\s]+/)
        .map((s) => s.trim())
        .filter(Boolean),
      description,
    };
    try {
      if (endpoint) {
        await call<Endpoint>('PATCH', `/api/endpoints/${encodeURIComponent(endpoint.id)}`, { body });
        setSaved(true);
      } else {
        setCreated(await call<Endpoint>('POST', '/api/endpoints', { body }));
        setName('');
        setUrl('');
        setEvents('*');
        setDescription('');
      }
      onSaved();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  const field = fieldsOf(error);
  const f = {
    name: field(`${prefix}-name`, 'name'),
    url: field(`${prefix}-url`, 'url'),
    events: field(`${prefix}-events`, 'eventTypes'),
    description: field(`${prefix}-description`, 'description'),
  };
  const titleId = `${prefix}-form-title`;
  return (
    <form class="card" onSubmit={submit} aria-labelledby={titleId}>
      <h2 id={titleId}>{endpoint ? t('webhooks.edit.title') : t('webhooks.create.title')}</h2>
      <div class="ops-form">
        <Field label={t('webhooks.name')} field={f.name}>
          <input
            {...f.name.attrs}
            required
            maxLength={100}
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </Field>
        <Field label={t('webhooks.url')} field={f.url}>
          <input
            {...f.url.attrs}
            required
            inputMode="url"
            placeholder="https://example.org/hooks/facteur"
            value={url}
            onInput={(e) => setUrl(e.currentTarget.value)}
          />
        </Field>
        <Field label={t('webhooks.events')} field={f.events}>
          <input
            {...f.events.attrs}
            placeholder="inbound.email, invoice.*"
            value={events}
            onInput={(e) => setEvents(e.currentTarget.value)}
          />
        </Field>
        <Field label={t('webhooks.description')} field={f.description}>
          <input
            {...f.description.attrs}
            maxLength={500}
            value={description}
            onInput={(e) => setDescription(e.currentTarget.value)}
          />
        </Field>
      </div>
      <p class="muted">{endpoint ? t('webhooks.edit.hint') : t('webhooks.create.hint')}</p>
      {error ? <ErrorNote error={error} /> : null}
      <button type="submit" class="primary" disabled={busy}>
        {endpoint ? t('webhooks.edit.submit') : t('webhooks.create.submit')}
      </button>
      {saved ? (
        <p class="note" role="status">
          {t('webhooks.edit.done')}
        </p>
      ) : null}
      {created ? (
        <div class="note" role="status">
          <p>{t('webhooks.create.done', { name: created.name })}</p>
          <SecretOnce secret={created.secret} />
          <p>
            <a href={href(`/webhooks/${created.id}`)}>{t('webhooks.open', { name: created.name })}</a>
          </p>
        </div>
      ) : null}
    </form>
  );
}

/** A full secret, shown this once; `hint` replaces the signing secret's wording. */
export function SecretOnce({ secret, hint }: { secret: string; hint?: string }) {
  const { t } = useI18n();
  return (
    <>
      <p>
        <strong>{hint ?? t('webhooks.secret.once')}</strong>
      </p>
      <p>
        <code class="code ops-secret" data-testid="new-secret">
          {secret}
        </code>
      </p>
    </>
  );
}

/** `datetime-local`'s value (the browser's local time) as an ISO time with its offset applied. */
export function localInputToIso(value: string): string | undefined {
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? undefined : time.toISOString();
}

/** Replays the endpoint's failed and given-up deliveries created since a local time. */
export function ReplaySince({ endpoint, onReplayed }: { endpoint: Endpoint; onReplayed: () => void }) {
  const { t } = useI18n();
  const [since, setSince] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [replayed, setReplayed] = useState<number>();
  const submit = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    setReplayed(undefined);
    const iso = localInputToIso(since);
    if (!iso) {
      setError(new Error(t('webhooks.replaySince.bad')));
      return;
    }
    setBusy(true);
    try {
      const answer = await call<{ replayed: number }>(
        'POST',
        `/api/endpoints/${encodeURIComponent(endpoint.id)}/replay`,
        { body: { since: iso } },
      );
      setReplayed(answer.replayed);
      onReplayed();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card" onSubmit={submit} aria-labelledby="replay-since-title">
      <h2 id="replay-since-title">{t('webhooks.replaySince.title')}</h2>
      <p class="muted">{t('webhooks.replaySince.hint')}</p>
      <div class="toolbar">
        <label for="replay-since">{t('webhooks.replaySince.since')}</label>
        <input
          id="replay-since"
          type="datetime-local"
          required
          value={since}
          onInput={(e) => setSince(e.currentTarget.value)}
        />
        <button type="submit" disabled={busy}>
          {t('webhooks.replaySince.submit')}
        </button>
      </div>
      {error ? <ErrorNote error={error} /> : null}
      {replayed !== undefined ? (
        <p class="note" role="status" data-testid="replayed-count">
          {t('webhooks.replaySince.done', { count: replayed })}
        </p>
      ) : null}
    </form>
  );
}
