/**
 * Whether to draw colours. NO_COLOR (https://no-color.org: present and not empty) turns them off;
 * Ink's chalk does not read it, so the components ask this instead. Bold, dim and inverse stay:
 * they are emphasis, not colour.
 */
import { createContext, useContext } from 'react';

export function colorFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return !(env.NO_COLOR !== undefined && env.NO_COLOR !== '');
}

export const ColorContext = createContext<boolean>(colorFromEnv());

export function useColor(): boolean {
  return useContext(ColorContext);
}
